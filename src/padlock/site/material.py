"""Pre-flight for a web server install: the certificate, its chain and its key, checked
before a single file of the server is touched.

Each failure is an :class:`~padlock.errors.InstallRefused` (or the more precise
:class:`~padlock.errors.KeyMismatch` / :class:`~padlock.errors.BadPassphrase`) whose
message says what is wrong and that nothing was changed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import ssl
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from padlock.errors import InstallRefused, KeyMismatch, PadlockError, WrongFileKind
from padlock.fileio import read_bytes
from padlock.pki import keys, serials
from padlock.pki.describe import chain_in_order, describe_certificate
from padlock.pki.objects import Kind, load_any
from padlock.site.check import WARN_DAYS, name_matches

NOTHING_CHANGED = "Nothing was changed."


def refuse(message: str, hint: str | None = None) -> InstallRefused:
    return InstallRefused(f"{message} {NOTHING_CHANGED}", hint=hint)


def _who(cert: x509.Certificate) -> str:
    return (
        str(describe_certificate(cert)["subject"])
        or f"serial {serials.display(cert.serial_number)}"
    )


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Material:
    """A certificate ready to install: served chain, anchor, key (as given) and facts."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    anchor: x509.Certificate
    anchor_source: str
    key_pem: bytes
    key_encrypted: bool
    passphrase: bytes | None
    warnings: tuple[str, ...]

    @property
    def serial(self) -> str:
        return serials.display(self.leaf.serial_number)

    @property
    def fullchain_pem(self) -> bytes:
        """Leaf then intermediates; the root stays out (clients have it, or must not get it
        from the server)."""
        return _pem((self.leaf, *self.intermediates))

    @property
    def anchor_pem(self) -> bytes:
        return _pem((self.anchor,))

    @property
    def dns_names(self) -> tuple[str, ...]:
        try:
            san = self.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return ()
        return tuple(san.value.get_values_for_type(x509.DNSName))

    @property
    def ocsp_url(self) -> str | None:
        try:
            aia = self.leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        except x509.ExtensionNotFound:
            return None
        for desc in aia.value:
            if desc.access_method == AuthorityInformationAccessOID.OCSP:
                return str(desc.access_location.value)
        return None

    def decrypted_key_pem(self) -> bytes:
        key = keys.load_private_key(self.key_pem, self.passphrase, "The key file")
        return keys.private_key_pem(key, None)

    def summary(self) -> str:
        info = describe_certificate(self.leaf)
        return (
            f"certificate serial {self.serial} for {', '.join(self.dns_names)},"
            f" valid until {info['not_after']}, + {len(self.intermediates)} intermediate(s)"
        )


def _load_certs(path: Path, what: str) -> list[x509.Certificate]:
    loaded = load_any(read_bytes(path, what), None, what=f"The {what} {str(path)!r}")
    if loaded.kind not in (Kind.CERTIFICATE, Kind.CHAIN):
        raise WrongFileKind(
            f"The {what} {str(path)!r} holds a {loaded.kind.value}, not certificates."
            f" {NOTHING_CHANGED}",
            hint="--cert takes the certificate (PEM or DER), --chain the CA certificates.",
        )
    return list(loaded.certificates)


def _system_roots() -> list[x509.Certificate]:
    paths = ssl.get_default_verify_paths()
    out: list[x509.Certificate] = []
    candidates = [paths.cafile] if paths.cafile else []
    if paths.capath and os.path.isdir(paths.capath):
        candidates += [
            os.path.join(paths.capath, n) for n in sorted(os.listdir(paths.capath)) if ".pem" in n
        ]
    for candidate in candidates:
        try:
            with open(candidate, "rb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # old roots with odd serials: not ours to judge
                out.extend(x509.load_pem_x509_certificates(fh.read()))
        except (OSError, ValueError):
            continue
    return out


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_key_file(path: Path, allowed_owners: Sequence[int]) -> None:
    """Mode 0600 (nothing for group or others) and owned by root (or the server's user)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise refuse(f"The key file {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise refuse(f"Cannot read the key file {str(path)!r}: {exc.strerror}.") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise refuse(
            f"The key file {str(path)!r} has mode {mode:04o}: other users can read it.",
            hint=f"chmod 600 {path}   (and consider the key exposed if others had access)",
        )
    if st.st_uid not in allowed_owners:
        owners = " or ".join(str(u) for u in allowed_owners)
        raise refuse(
            f"The key file {str(path)!r} is owned by uid {st.st_uid}, not by root.",
            hint=f"chown {owners} {path}",
        )


def key_owners() -> tuple[int, ...]:
    """Root; and, when padlock itself runs as another user (a server run by that user, as in
    a container or a test), that user too."""
    uid = os.geteuid()
    return (0,) if uid == 0 else (0, uid)


def _chain_problem(served: Sequence[x509.Certificate]) -> str | None:
    for child, parent in itertools.pairwise(served):
        if not _issued_by(child, parent):
            return (
                f"the chain is not in order: {_who(child)} is followed by {_who(parent)},"
                f" which did not issue it (it was issued by"
                f" {describe_certificate(child)['issuer']})"
            )
    return None


def _check_leaf(leaf: x509.Certificate, cert_path: Path) -> None:
    """The first certificate must be the site's, and for TLS servers (RFC 5280 4.2.1.12)."""
    if _is_ca(leaf):
        raise refuse(
            f"The first certificate in {str(cert_path)!r} ({_who(leaf)}) is a CA certificate,"
            " not the site's.",
            hint="--cert takes the site's certificate; CA certificates go in --chain.",
        )
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise refuse(f"The certificate ({_who(leaf)}) is not for TLS servers (no serverAuth).")


def _check_key(
    key_path: Path,
    cert_path: Path,
    leaf: x509.Certificate,
    passphrase: bytes | None,
    allowed_owners: Sequence[int],
) -> tuple[bytes, bool]:
    """File safety first, then that the key is the certificate's; the key as given and
    whether it is encrypted."""
    check_key_file(key_path, allowed_owners)
    key_pem = read_bytes(key_path, "key file")
    encrypted = keys.is_encrypted(key_pem)
    if encrypted and passphrase is None:
        raise refuse(
            f"The key {str(key_path)!r} is encrypted and no pass phrase was given.",
            hint="Give --passphrase-file (padlock installs a helper so restarts do not ask),"
            " or add --decrypt-key to install a decrypted copy.",
        )
    try:
        key = keys.load_private_key(key_pem, passphrase if encrypted else None, "The key file")
    except PadlockError as exc:
        raise type(exc)(f"{exc.message} {NOTHING_CHANGED}", hint=exc.hint) from None
    if keys.fingerprint(key.public_key()) != keys.fingerprint(leaf.public_key()):
        raise KeyMismatch(
            f"The key {str(key_path)!r} does not belong to the certificate {str(cert_path)!r}"
            f" (public keys {keys.fingerprint(key.public_key())[:23]}... and"
            f" {keys.fingerprint(leaf.public_key())[:23]}... differ). {NOTHING_CHANGED}",
            hint="Find the key the CSR was made from: padlock match KEY CERT",
        )
    return key_pem, encrypted


def _served_chain(
    leaf: x509.Certificate, rest: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The chain the server sends: leaf then the non-root certificates, checked in order."""
    served = [leaf] + [c for c in rest if not _self_signed(c)]
    problem = None if chain_in_order(tuple(served)) else _chain_problem(served)
    if problem:
        raise refuse(f"The chain is broken: {problem}.", hint="List the certificates leaf first.")
    for inter in served[1:]:
        if not _is_ca(inter):
            raise refuse(f"{_who(inter)} in the chain is not a CA certificate.")
    return served


def _find_anchor(
    served: Sequence[x509.Certificate],
    roots_in_files: Sequence[x509.Certificate],
    ca_paths: Sequence[Path],
    now: dt.datetime,
) -> tuple[x509.Certificate, str]:
    """The root that issued the top of the chain (the files, --ca, then the system's) and
    where it was found; every CA certificate still valid."""
    top = served[-1]
    given_roots: list[x509.Certificate] = []
    for path in ca_paths:
        given_roots += _load_certs(path, "CA file")
    anchor: x509.Certificate | None = None
    source = ""
    for candidates, label in ((roots_in_files, "the chain file"), (given_roots, "--ca")):
        for root in candidates:
            if _issued_by(top, root):
                anchor, source = root, label
                break
        if anchor is not None:
            break
    if anchor is None:
        for root in _system_roots():
            if _issued_by(top, root):
                anchor, source = root, "the system trust store"
                break
    if anchor is None:
        issuer = describe_certificate(top)["issuer"]
        missing = "an intermediate certificate" if list(served[1:]) == [] else "a certificate"
        raise refuse(
            f"The chain is incomplete: {_who(top)} was issued by {issuer}, which is neither"
            " in the chain nor a known root.",
            hint=f"Add {missing} to --chain (the CA's 'chain' download), or give the root"
            " with --ca if it is a private CA.",
        )
    for cert in (*served[1:], anchor):
        if cert.not_valid_after_utc < now:
            raise refuse(f"{_who(cert)} in the chain expired on {cert.not_valid_after_utc:%F}.")
    return anchor, source


def _check_names_and_dates(
    leaf: x509.Certificate, required_names: Sequence[str], now: dt.datetime
) -> list[str]:
    """Every required name covered and the certificate valid now; warnings to show."""
    uncovered = [n for n in required_names if not name_matches(leaf, n)]
    if uncovered:
        dns = _dns(leaf)
        raise refuse(
            f"The certificate does not cover {', '.join(uncovered)} (it names"
            f" {', '.join(dns) or 'nothing'}).",
            hint="Every ServerName and ServerAlias must be in the certificate: get one with all"
            " the names, or remove the alias from the virtual host.",
        )
    warnings: list[str] = []
    if leaf.not_valid_after_utc < now:
        raise refuse(f"The certificate expired on {leaf.not_valid_after_utc:%F %T} UTC.")
    if leaf.not_valid_before_utc > now:
        raise refuse(
            f"The certificate is not valid before {leaf.not_valid_before_utc:%F %T} UTC.",
            hint="Check this machine's clock.",
        )
    days = (leaf.not_valid_after_utc - now).days
    if days < WARN_DAYS:
        warnings.append(f"The certificate expires in {days} days; renew it soon.")
    return warnings


def load_material(
    cert_path: Path,
    key_path: Path,
    chain_path: Path | None,
    ca_paths: Sequence[Path],
    passphrase: bytes | None,
    required_names: Sequence[str],
    now: dt.datetime,
    *,
    allowed_owners: Sequence[int] | None = None,
) -> Material:
    """Every pre-flight check on the files; raises with a clear message on the first failure.

    The order is the user's: the certificate, its key, the chain to a root, then names and
    dates."""
    certs = _load_certs(cert_path, "certificate file")
    if chain_path is not None:
        certs += _load_certs(chain_path, "chain file")
    leaf, rest = certs[0], certs[1:]
    _check_leaf(leaf, cert_path)
    owners = allowed_owners if allowed_owners is not None else key_owners()
    key_pem, encrypted = _check_key(key_path, cert_path, leaf, passphrase, owners)
    roots_in_files = [c for c in rest if _self_signed(c)]
    served = _served_chain(leaf, rest)
    anchor, source = _find_anchor(served, roots_in_files, ca_paths, now)
    warnings = _check_names_and_dates(leaf, required_names, now)
    return Material(
        leaf=leaf,
        intermediates=tuple(served[1:]),
        anchor=anchor,
        anchor_source=source,
        key_pem=key_pem,
        key_encrypted=encrypted,
        passphrase=passphrase if encrypted else None,
        warnings=tuple(warnings),
    )


def _dns(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))
