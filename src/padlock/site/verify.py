"""The certificate a CA sends, checked before anything is written: for our key and every
name, and with a chain to a root we trust (``--ca-root``, else the system's), verified as
a TLS client would verify the server (RFC 5280 path validation, RFC 6125 names)."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification

from padlock.errors import CAError, FileProblem, InstallRefused, KeyMismatch
from padlock.fileio import read_bytes
from padlock.pki import keys as pki_keys
from padlock.pki import serials
from padlock.site.ca_http import pem_certificates


def load_roots(path: Path) -> list[x509.Certificate]:
    """The certificates of a --ca-root file (PEM, or one DER), or a FileProblem."""
    data = read_bytes(path, "CA root file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise FileProblem(
                f"The CA root file {str(path)!r} holds no certificate (PEM or DER)."
            ) from None
    return list(certs)


def _system_roots() -> list[x509.Certificate]:
    paths = ssl.get_default_verify_paths()
    files = [paths.cafile] if paths.cafile else []
    if paths.capath and os.path.isdir(paths.capath):
        files += [
            os.path.join(paths.capath, n) for n in sorted(os.listdir(paths.capath)) if ".pem" in n
        ]
    out: list[x509.Certificate] = []
    for name in files:
        try:
            with open(name, "rb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.extend(x509.load_pem_x509_certificates(fh.read()))
        except (OSError, ValueError):
            continue
    return out


def _common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def _serial(cert: x509.Certificate) -> str:
    return serials.display(cert.serial_number)


def to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Verified:
    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    anchor: x509.Certificate

    @property
    def serial(self) -> str:
        return _serial(self.leaf)


def verify_issued(
    chain_pem: bytes,
    csr_pem: bytes,
    names: Sequence[str],
    roots: Sequence[Path],
    now: dt.datetime,
    *,
    hint_url: str | None = None,
    resume_ref: str | None = None,
) -> Verified:
    """The certificate the CA sent is for our key and every name, and its chain leads to a
    root we trust (``--ca-root``, else the system's); otherwise an error, nothing written."""
    certs = pem_certificates(chain_pem, "certificate chain")
    if not certs:
        raise CAError("The CA sent an empty certificate chain.")
    leaf = certs[0]
    rest = [c for c in certs[1:] if c.subject != c.issuer]
    csr = x509.load_pem_x509_csr(csr_pem)
    if pki_keys.fingerprint(leaf.public_key()) != pki_keys.fingerprint(csr.public_key()):
        raise KeyMismatch(
            f"The CA issued certificate {_serial(leaf)} for another public key than the CSR's."
            " Nothing was written.",
        )
    from padlock.site.check import name_matches

    missing = [n for n in names if not name_matches(leaf, n)]
    if missing:
        raise CAError(
            f"The certificate the CA issued does not cover {', '.join(missing)}."
            " Nothing was written.",
        )
    given = [c for path in roots for c in load_roots(path)]
    anchors = given or _system_roots()
    try:
        store = verification.Store(anchors)
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(now)
            .build_server_verifier(x509.DNSName(names[0]))
        )
        chain = verifier.verify(leaf, rest)
    except (verification.VerificationError, ValueError) as exc:
        top = _common_name((rest[-1] if rest else leaf).issuer)
        why = str(exc)
        why = "" if "candidates exhausted" in why else f" ({why})"
        if given:
            where = "is not among the roots given with --ca-root"
            hint = "Give the root of the CA that issued it with --ca-root"
        else:
            where = "is not a root this machine trusts"
            hint = "If the CA is private (or this is a test certificate), give its root with"
            hint += " --ca-root ROOT.pem"
        if hint_url:
            hint += f" (padlock publishes its roots under {hint_url}/roots/)"
        hint += f", then run padlock obtain --resume {resume_ref or names[0]}: the certificate"
        hint += " waits at the CA."
        raise InstallRefused(
            f"The certificate the CA issued leads to {top!r}, which {where}{why}."
            " Nothing was written.",
            hint=hint,
        ) from exc
    anchor = chain[-1]
    intermediates = tuple(c for c in chain[1:-1])
    return Verified(leaf, intermediates, anchor)


__all__ = ["Verified", "load_roots", "to_pem", "verify_issued"]
