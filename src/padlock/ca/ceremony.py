"""The key ceremony's record: what was made, by whom, with which fingerprints.

``padlock ca ceremony`` makes the CA as ``ca init`` does, one announced step at a time, and
keeps a transcript of it (as the Baseline Requirements 6.1.1.1 ask for the generation of a
root key: a script followed, witnessed, and a report of it). The transcript names every CA
certificate with the SHA-256 of its DER and of its SubjectPublicKeyInfo (what ``openssl x509
-fingerprint -sha256`` and ``openssl pkey -pubin -outform DER | sha256sum`` print), and the
checks of each signature. Its SHA-256 is recorded in the audit trail. No I/O here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from padlock.ca.audit import AuditEntry
from padlock.ca.ports.identity import CaCertificate

TRAILER = "--- the SHA-256 recorded in the audit trail covers every line above this one ---"


@dataclass(frozen=True)
class CeremonyFacts:
    """Who and where: what the transcript's head says."""

    ca_name: str
    data_dir: str
    keys_in: str  # "token 'L' (module M)" or "files (...)"
    witnesses: tuple[str, ...]
    started: dt.datetime
    version: str


@dataclass
class Transcript:
    """The lines of a ceremony as it goes: each step with its time."""

    facts: CeremonyFacts
    steps: list[str] = field(default_factory=list)

    def step(self, text: str, at: dt.datetime) -> str:
        line = f"{at:%Y-%m-%dT%H:%M:%SZ}  step {len(self.steps) + 1}: {text}"
        self.steps.append(line)
        return line

    def text(self, certificates: Sequence[tuple[str, x509.Certificate, x509.Certificate]]) -> str:
        """The whole transcript: its head, the steps, each certificate (with the one that
        signed it, checked) and the trailer line."""
        f = self.facts
        lines = [
            "padlock key ceremony",
            f"padlock version: {f.version}",
            f"started: {f.started:%Y-%m-%dT%H:%M:%SZ}",
            f"CA: {f.ca_name}",
            f"data dir: {f.data_dir}",
            f"keys: {f.keys_in}",
            "witnesses: " + (", ".join(f.witnesses) if f.witnesses else "(none named)"),
            "",
            *self.steps,
            "",
        ]
        for issuer, cert, signer in certificates:
            lines += _certificate_lines(issuer, cert, signer)
        return "\n".join([*lines, TRAILER, ""])


def _certificate_lines(issuer: str, cert: x509.Certificate, signer: x509.Certificate) -> list[str]:
    facts = CaCertificate.of(issuer, cert)
    try:
        cert.verify_directly_issued_by(signer)
        checked = "OK"
    except (ValueError, TypeError, InvalidSignature) as err:
        checked = f"FAILED ({err or type(err).__name__})"
    return [
        f"{issuer}:",
        f"  subject: {cert.subject.rfc4514_string()}",
        f"  serial: {cert.serial_number:x}",
        f"  valid: {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to"
        f" {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
        f"  certificate SHA-256: {_colons(facts.cert_sha256)}",
        f"  public key (SPKI) SHA-256: {_colons(facts.key_sha256)}",
        f"  signature by {signer.subject.rfc4514_string()}: {checked}",
        "",
    ]


def _colons(hexdigest: str) -> str:
    """As ``openssl x509 -fingerprint`` prints a digest: upper case, colon separated."""
    upper = hexdigest.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def signatures_ok(text: str) -> bool:
    """Whether every signature the transcript lists was checked good."""
    return "FAILED (" not in text


def audit_entry(
    transcript: str, facts: CeremonyFacts, certificates: Sequence[tuple[str, x509.Certificate]]
) -> AuditEntry:
    """The audit event of a ceremony: the transcript's SHA-256 and every fingerprint."""
    details: dict[str, Any] = {
        "transcript_sha256": hashlib.sha256(transcript.encode()).hexdigest(),
        "keys": facts.keys_in,
        "witnesses": list(facts.witnesses),
        "certificates": {
            issuer: {"sha256": c.cert_sha256, "spki_sha256": c.key_sha256}
            for issuer, c in ((i, CaCertificate.of(i, cert)) for i, cert in certificates)
        },
    }
    return AuditEntry("ca.ceremony", "cli", "ca", facts.ca_name, details)
