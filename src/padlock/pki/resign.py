"""A signed X.509 document with its signature replaced: how a key that ``cryptography`` cannot
hold (one inside a PKCS#11 token) signs what ``cryptography``'s builders make.

The builders sign with a throwaway key of the same algorithm and hash, so the to-be-signed
part (which names the signature algorithm, RFC 5280 4.1.2.3 and 5.1.2.2) is already the one
the real key signs; only the signature value is then put in its place. Pure DER, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from padlock.pki import der

# id-pkix-ocsp-basic (RFC 6960 4.2.1), as ResponseBytes.responseType names it.
OCSP_BASIC = der.oid("1.3.6.1.5.5.7.48.1.1")


def signed_parts(signed: bytes) -> tuple[bytes, bytes, bytes]:
    """(to-be-signed, AlgorithmIdentifier, signature BIT STRING) of a Certificate or a
    CertificateList (RFC 5280 4.1 and 5.1: the same three-part SEQUENCE)."""
    parts = der.children(signed)
    if len(parts) != 3 or parts[2][:1] != bytes((der.BIT_STRING,)):
        raise ValueError("not a signed certificate or CRL")
    return parts[0], parts[1], parts[2]


def with_signature(signed: bytes, signature: bytes) -> bytes:
    """A Certificate or CertificateList with its signatureValue set to ``signature``."""
    tbs, algorithm, _old = signed_parts(signed)
    return der.sequence(tbs, algorithm, der.tlv(der.BIT_STRING, b"\x00" + signature))


def ocsp_as_responder(
    response: bytes, key_hash: bytes, certificate: bytes, sign: Callable[[bytes], bytes]
) -> bytes:
    """A successful OCSPResponse (RFC 6960 4.2.1) made for a stand-in responder, made the
    real responder's: its responderID byKey set to ``key_hash`` (the SHA-1 of the real
    responder's public key, RFC 6960 4.2.1), its certs to the real ``certificate`` (DER),
    its tbsResponseData signed anew by ``sign``. Status, responses and extensions kept."""
    status, _wrapper = der.children(response)
    basic = der.children(_basic(response))
    if len(basic) not in (3, 4) or basic[2][:1] != bytes((der.BIT_STRING,)):
        raise ValueError("not a BasicOCSPResponse")
    fields = der.children(basic[0])
    by_key = der.tlv(0xA2, der.tlv(der.OCTET_STRING, key_hash))  # ResponderID byKey [2]
    tbs = der.sequence(*(by_key if f[:1] == b"\xa2" else f for f in fields))
    signed = der.sequence(
        tbs,
        basic[1],
        der.tlv(der.BIT_STRING, b"\x00" + sign(tbs)),
        der.tlv(0xA0, der.sequence(certificate)),  # certs [0] EXPLICIT SEQUENCE OF Certificate
    )
    response_bytes = der.sequence(OCSP_BASIC, der.tlv(der.OCTET_STRING, signed))
    return der.sequence(status, der.tlv(0xA0, response_bytes))


def _basic(response: bytes) -> bytes:
    """The BasicOCSPResponse DER inside an OCSPResponse: responseBytes [0] EXPLICIT
    SEQUENCE { responseType, response OCTET STRING }."""
    parts = der.children(response)
    if len(parts) != 2 or parts[1][:1] != b"\xa0":
        raise ValueError("an OCSP response without responseBytes has no signature")
    (response_bytes,) = der.children(parts[1])
    kind, octets = der.children(response_bytes)
    if kind != OCSP_BASIC:
        raise ValueError("not a basic OCSP response")
    start, end = der.element(octets, 0)
    return octets[start:end]
