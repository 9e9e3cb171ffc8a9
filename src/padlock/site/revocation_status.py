"""The site owner's side of revocation: is my certificate revoked, and please revoke it.

- :func:`ocsp_status` asks the OCSP responder named in the certificate's AIA
  (RFC 6960, POST) and believes the answer only if it is signed by the issuer or
  by a responder certificate the issuer delegated (EKU OCSPSigning), is for this
  certificate, and is current.
- :func:`request_revocation` asks a padlock CA to revoke a certificate, proving
  possession of its private key by signing a statement with it
  (``POST /api/v1/revoke``); the key never leaves this machine.

httpx's and cryptography's exceptions stop here: a responder that cannot be
reached or answers nonsense gives the status ``unavailable`` with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from padlock.errors import (
    AlreadyRevoked,
    BadRevocationReason,
    KeyMismatch,
    Malformed,
    NotFound,
    PadlockError,
    Unauthorized,
    UnrecognizedFile,
)
from padlock.pki import crl_ocsp
from padlock.pki.keys import fingerprint

DEFAULT_TIMEOUT = 10.0
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class RevocationStatus:
    status: str  # "good" | "revoked" | "unknown" | "unavailable"
    responder_url: str | None = None
    revoked_at: dt.datetime | None = None
    reason: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "responder_url": self.responder_url,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
            "detail": self.detail,
        }


def ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            return str(desc.access_location.value)
    return None


def _verify(public_key: Any, signature: bytes, data: bytes, algorithm: Any) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, data)
    else:
        raise InvalidSignature("unsupported responder key")


def _signer_of(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate whose key signed ``response``: the issuer, or a delegate it issued."""
    for candidate in [issuer, *response.certificates]:
        if candidate is issuer:
            matches = _responder_is(response, issuer)
        else:
            matches = _responder_is(response, candidate) and _delegated_by(candidate, issuer)
        if matches:
            _verify(
                candidate.public_key(),
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
            return candidate
    raise InvalidSignature("no certificate the issuer authorised signed the response")


def _responder_is(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_key_hash is not None:
        spki = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
        return response.responder_key_hash == spki
    return response.responder_name == cert.subject


def _delegated_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def ocsp_status(
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    *,
    now: dt.datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    url: str | None = None,
) -> RevocationStatus:
    """Ask the certificate's OCSP responder; never raises for a network or protocol fault."""
    now = now or dt.datetime.now(dt.UTC)
    url = url or ocsp_url(leaf)
    if url is None:
        return RevocationStatus("unavailable", None, detail="The certificate names no OCSP URL.")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA1())  # noqa: S303 - RFC 5019 2.1.1
        .build()
        .public_bytes(Encoding.DER)
    )
    try:
        reply = httpx.post(
            url,
            content=request,
            headers={"Content-Type": "application/ocsp-request"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return RevocationStatus("unavailable", url, detail=f"The OCSP responder failed: {exc}.")
    if reply.status_code != 200:
        return RevocationStatus(
            "unavailable", url, detail=f"The OCSP responder answered HTTP {reply.status_code}."
        )
    return judge_response(reply.content, leaf, issuer, now, url)


def judge_response(
    der: bytes,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    now: dt.datetime,
    url: str | None = None,
) -> RevocationStatus:
    """What a DER OCSP response (fetched or stapled) says about ``leaf``, if it can be trusted."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return RevocationStatus("unavailable", url, detail=f"Not an OCSP response ({exc}).")
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return RevocationStatus(
            "unavailable", url, detail=f"The responder said {response.response_status.name}."
        )
    try:
        _signer_of(response, issuer)
    except (InvalidSignature, ValueError, TypeError) as exc:
        return RevocationStatus(
            "unavailable", url, detail=f"The OCSP response's signature is not trusted ({exc})."
        )
    name_hash, key_hash = crl_ocsp.issuer_hashes(issuer)[response.hash_algorithm.name]
    if (
        response.serial_number != leaf.serial_number
        or response.issuer_name_hash != name_hash
        or response.issuer_key_hash != key_hash
    ):
        return RevocationStatus(
            "unavailable", url, detail="The response is for another certificate."
        )
    this_update = response.this_update_utc
    next_update = response.next_update_utc
    if this_update > now + CLOCK_SKEW or (next_update is not None and next_update < now):
        return RevocationStatus("unavailable", url, detail="The OCSP response is not current.")
    status = response.certificate_status
    if status is ocsp.OCSPCertStatus.REVOKED:
        flag = response.revocation_reason
        return RevocationStatus(
            "revoked",
            url,
            response.revocation_time_utc,
            crl_ocsp.reason_by_flag(flag).name if flag is not None else "unspecified",
            "The CA says the certificate is revoked.",
        )
    if status is ocsp.OCSPCertStatus.GOOD:
        return RevocationStatus("good", url, detail="The CA says the certificate is good.")
    return RevocationStatus("unknown", url, detail="The CA does not know this certificate.")


def load_certificate(data: bytes) -> x509.Certificate:
    """The first certificate of a PEM file (a full chain is fine) or a DER certificate."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise UnrecognizedFile(f"That is not a readable certificate ({exc}).") from None


# --- asking for a revocation ----------------------------------------------------------------

_PROBLEMS: dict[str, type[PadlockError]] = {
    "alreadyRevoked": AlreadyRevoked,
    "badRevocationReason": BadRevocationReason,
    "unauthorized": Unauthorized,
    "notFound": NotFound,
    "malformed": Malformed,
}


def request_revocation(
    key: Any,
    certificate: x509.Certificate,
    ca_url: str,
    reason: str | None,
    *,
    now: dt.datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Ask the CA at ``ca_url`` to revoke ``certificate``, signing the request with ``key``."""
    if fingerprint(key.public_key()) != fingerprint(certificate.public_key()):
        raise KeyMismatch(
            "The key is not the certificate's key: only the certificate's own key can prove"
            " you may revoke it.",
            hint="Give the private key the certificate was issued for.",
        )
    parsed = crl_ocsp.parse_reason(reason)
    now = now or dt.datetime.now(dt.UTC)
    timestamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    audience = ca_url.rstrip("/")
    der = certificate.public_bytes(Encoding.DER)
    statement = crl_ocsp.revocation_statement(
        hashlib.sha256(der).hexdigest(), parsed.name, timestamp, audience
    )
    signature = crl_ocsp.sign_statement(key, statement)
    body = {
        "certificate": certificate.public_bytes(Encoding.PEM).decode(),
        "reason": parsed.name,
        "timestamp": timestamp,
        "signature": base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
    }
    try:
        reply = httpx.post(f"{audience}/api/v1/revoke", json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise PadlockError(
            f"Could not reach the CA at {audience}: {exc}.",
            hint="Check the --ca URL and that the CA is running.",
        ) from exc
    if reply.status_code == 200:
        result: dict[str, Any] = reply.json()
        return result
    try:
        problem = reply.json()
    except ValueError:
        problem = {}
    code = str(problem.get("type", "")).rsplit(":", 1)[-1]
    detail = str(problem.get("detail") or f"HTTP {reply.status_code}")
    raise _PROBLEMS.get(code, PadlockError)(f"The CA refused the revocation: {detail}")
