"""The identity store: which CA a database belongs to (``store/identity.py`` implements
it), and the signed objects ``padlock audit verify`` checks against that identity. The
use cases are in ``ca/identity.py`` and ``padlock.hosts``."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.pki import keys


@dataclass(frozen=True)
class CaCertificate:
    """One certificate of the CA's identity: ``issuer`` is its id (``test-root``, ...)."""

    issuer: str
    cert_sha256: str
    key_sha256: str
    der: bytes

    @classmethod
    def of(cls, issuer: str, cert: x509.Certificate) -> CaCertificate:
        der = cert.public_bytes(Encoding.DER)
        spki = keys.spki_der(cert.public_key())
        return cls(issuer, hashlib.sha256(der).hexdigest(), hashlib.sha256(spki).hexdigest(), der)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


CaIdentity = tuple[CaCertificate, ...]
"""The CA's certificates, ordered by issuer id."""


class IdentityStore(Protocol):
    """The CA identity recorded in the database, and every signature stored there."""

    def get(self) -> CaIdentity:
        """The recorded identity (empty: none recorded yet)."""

    def record(self, identity: CaIdentity, at: dt.datetime, actor: str) -> CaIdentity:
        """Record ``identity`` with its audit event unless one is recorded already (one
        transaction; a racing writer's identity wins); the identity now recorded."""

    def add_issuer(
        self,
        added: CaCertificate,
        expected: CaIdentity,
        at: dt.datetime,
        actor: str,
        succeeds: str | None = None,
    ) -> None:
        """Record a new issuing CA beside ``expected`` with its audit event; Conflict when
        the recorded identity is no longer ``expected`` or the issuer is recorded already."""

    def recorded_in(self, cursor: Any, issuer: str) -> bool:
        """Whether ``issuer`` is a recorded CA, in the caller's write transaction."""

    def issuer_spans(self, now: dt.datetime) -> dict[str, tuple[int, dt.datetime | None]]:
        """{issuer: (signed certificates unexpired at ``now``, the last notAfter)}."""

    def issued_certificates(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every signed certificate."""

    def crls(self) -> list[tuple[str, bytes]]:
        """(issuer, der) of every stored CRL."""

    def ocsp_responses(self) -> Iterator[tuple[str, str, bytes]]:
        """(serial, issuer, der) of every pre-signed OCSP response."""
