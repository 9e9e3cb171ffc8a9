"""A small ACME client of the kit's own: signs flattened JWS (RFC 7515 7.2.2) with any key,
and can break them on purpose.

Built on cryptography and httpx only, so that the protocol checks (checks.py) can send what no
real client would: ``alg: none``, HS256, a wrong ``url``, a replayed nonce, a tampered payload.
The interop and server tests use it too (tests/support/acme_client.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

JOSE = "application/jose+json"
ACME_ERR = "urn:ietf:params:acme:error:"

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int, size: int | None = None) -> str:
    length = size or max(1, (n.bit_length() + 7) // 8)
    return b64(n.to_bytes(length, "big"))


def jwk_of(key: Key) -> dict[str, str]:
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": _uint(nums.x, size), "y": _uint(nums.y, size)}
    if isinstance(pub, rsa.RSAPublicKey):
        rsa_nums = pub.public_numbers()
        return {"kty": "RSA", "n": _uint(rsa_nums.n), "e": _uint(rsa_nums.e)}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def thumbprint(key: Key) -> str:
    jwk = jwk_of(key)
    names = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    canon = {k: jwk[k] for k in names[jwk["kty"]]}
    data = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
    return b64(hashlib.sha256(data).digest())


def default_alg(key: Key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES384" if key.curve.key_size == 384 else "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return "EdDSA"


def sign(key: Key | bytes | None, alg: str, data: bytes) -> bytes:
    if alg == "none" or key is None:
        return b""
    if alg.startswith("HS"):
        if not isinstance(key, bytes):
            raise TypeError("an HS* signature needs a MAC key (bytes)")
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        return hmac.new(key, data, digest[alg]).digest()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        h: hashes.HashAlgorithm = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, rsa.RSAPrivateKey):
        if alg == "PS256":
            return key.sign(
                data,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise TypeError(f"no {alg} signature with a MAC key")
    return key.sign(data)


def jws(
    key: Key | bytes | None,
    protected: Mapping[str, Any],
    payload: Any,
    alg: str | None = None,
) -> dict[str, str]:
    """A flattened JWS. ``payload`` None or "" is POST-as-GET; a dict is JSON; bytes as is."""
    header = dict(protected)
    if alg is not None:
        header["alg"] = alg
    protected_b64 = b64(json.dumps(header).encode())
    if payload is None or payload == "":
        payload_b64 = ""
    elif isinstance(payload, bytes):
        payload_b64 = b64(payload)
    else:
        payload_b64 = b64(json.dumps(payload).encode())
    sig = sign(key, header["alg"], f"{protected_b64}.{payload_b64}".encode())
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64(sig)}


def make_csr(names: Sequence[str], key: Key | None = None) -> bytes:
    """A DER CSR for ``names`` (IP literals become IP SANs)."""
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    first = names[0]
    subject = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)])
        if len(first) < 64
        else x509.Name([])
    )
    h = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, h)
    )
    return csr.public_bytes(serialization.Encoding.DER)


@dataclass
class Client:
    """One ACME account's client against one directory."""

    http: httpx.Client
    directory_url: str
    key: Key = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    alg: str | None = None
    kid: str | None = None
    nonce: str | None = None
    directory: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alg = self.alg or default_alg(self.key)
        resp = self.http.get(self.directory_url)
        resp.raise_for_status()
        self.directory = resp.json()

    # -- nonces ---------------------------------------------------------------------------

    def fresh_nonce(self) -> str:
        resp = self.http.head(self.directory["newNonce"])
        return resp.headers["Replay-Nonce"]

    def take_nonce(self) -> str:
        nonce = self.nonce or self.fresh_nonce()
        self.nonce = None
        return nonce

    # -- requests -------------------------------------------------------------------------

    def protected(
        self, url: str, *, use_jwk: bool = False, nonce: str | None = None
    ) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": self.alg, "nonce": nonce or self.take_nonce(), "url": url}
        if use_jwk or self.kid is None:
            header["jwk"] = jwk_of(self.key)
        else:
            header["kid"] = self.kid
        return header

    def send(
        self,
        url: str,
        body: Any,
        *,
        content_type: str = JOSE,
    ) -> httpx.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = self.http.post(url, content=data, headers={"Content-Type": content_type})
        if "Replay-Nonce" in resp.headers:
            self.nonce = resp.headers["Replay-Nonce"]
        return resp

    def post(
        self,
        url: str,
        payload: Any = None,
        *,
        use_jwk: bool = False,
        key: Key | bytes | None = None,
        alg: str | None = None,
        nonce: str | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        protected = self.protected(url, use_jwk=use_jwk, nonce=nonce)
        protected.update(header or {})
        signing_key = key if key is not None else self.key
        return self.send(url, jws(signing_key, protected, payload, alg or protected["alg"]))

    def get(self, url: str) -> httpx.Response:
        """POST-as-GET."""
        return self.post(url, None)

    # -- flows ----------------------------------------------------------------------------

    def register(self, contact: Sequence[str] = (), **extra: Any) -> httpx.Response:
        payload: dict[str, Any] = {"termsOfServiceAgreed": True, **extra}
        if contact:
            payload["contact"] = list(contact)
        resp = self.post(self.directory["newAccount"], payload, use_jwk=True)
        if resp.status_code in (200, 201):
            self.kid = resp.headers["Location"]
        return resp

    def new_order(self, names: Sequence[str], **extra: Any) -> httpx.Response:
        import ipaddress

        identifiers = []
        for n in names:
            try:
                ipaddress.ip_address(n)
                identifiers.append({"type": "ip", "value": n})
            except ValueError:
                identifiers.append({"type": "dns", "value": n})
        return self.post(self.directory["newOrder"], {"identifiers": identifiers, **extra})

    def key_authorization(self, token: str) -> str:
        return f"{token}.{thumbprint(self.key)}"

    def challenge_of(self, authz: Mapping[str, Any], kind: str) -> dict[str, Any]:
        for c in authz["challenges"]:
            if c["type"] == kind:
                return dict(c)
        raise LookupError(f"no {kind} challenge in {authz}")

    def finalize(self, order: Mapping[str, Any], csr_der: bytes) -> httpx.Response:
        return self.post(order["finalize"], {"csr": b64(csr_der)})
