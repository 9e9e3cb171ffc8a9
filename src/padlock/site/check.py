"""``padlock check``: one TLS handshake, judged the way a browser judges it.

The seed's last line is "you will know if the SSL session has been established if a
golden padlock appears". This module is that padlock, for scripts: it connects, takes
the chain the server presents, and decides as a browser would — does the chain verify
against the trust store (plus any roots given), does the name match, is the
certificate within its validity — and reports the serial so that one can see the *new*
certificate is live.

Every ``ssl.SSLError``, socket error and timeout is translated into
:class:`~padlock.errors.SiteUnreachable` here, at the border; :func:`check` itself
never raises for a broken site, it returns a :class:`CheckResult` whose verdict says so.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.errors import FileProblem, InvalidName, SiteUnreachable
from padlock.pki import names as pki_names
from padlock.pki import serials
from padlock.pki.describe import describe_certificate

WARN_DAYS = 14
DEFAULT_PORT = 443
DEFAULT_TIMEOUT = 10.0
_DER = 2  # _ssl.ENCODING_DER


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BROKEN = "broken"

    @property
    def exit_code(self) -> int:
        return {Verdict.OK: 0, Verdict.WARNING: 1, Verdict.BROKEN: 2}[self]


@dataclass(frozen=True)
class PresentedCertificate:
    """One certificate of the chain the server sent, as a person reads it."""

    subject: str
    issuer: str
    serial: str  # as openssl x509 -serial prints it (pki.serials.display)
    not_before: dt.datetime
    not_after: dt.datetime
    names: tuple[str, ...]
    sha256: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> PresentedCertificate:
        info = describe_certificate(cert)
        return cls(
            subject=info["subject"],
            issuer=info["issuer"],
            serial=info["serial"],
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            names=tuple(info["names"]),
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "names": list(self.names),
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class CheckResult:
    """What a browser would decide about one name on one address."""

    host: str
    port: int
    server_name: str
    checked_at: dt.datetime
    verdict: Verdict
    problems: tuple[str, ...] = ()  # why the verdict is "broken"
    warnings: tuple[str, ...] = ()  # why it is "warning"
    notes: tuple[str, ...] = ()  # worth knowing, never a failure
    connected: bool = False
    protocol: str | None = None
    cipher: str | None = None
    chain: tuple[PresentedCertificate, ...] = field(default_factory=tuple)
    verified: bool = False
    verify_error: str | None = None
    name_matches: bool | None = None
    days_left: int | None = None
    ocsp_staple: bool | None = None  # None: could not tell
    serial: str | None = None

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "server_name": self.server_name,
            "checked_at": _iso(self.checked_at),
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "connected": self.connected,
            "protocol": self.protocol,
            "cipher": self.cipher,
            "verified": self.verified,
            "verify_error": self.verify_error,
            "name_matches": self.name_matches,
            "days_left": self.days_left,
            "ocsp_staple": self.ocsp_staple,
            "serial": self.serial,
            "chain": [c.to_dict() for c in self.chain],
        }


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- targets


def parse_target(target: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT`` → (host, port)."""
    text = target.strip()
    if "://" in text:
        raise InvalidName(
            f"{target!r} is a URL; padlock check wants a host name and an optional port.",
            hint="For https://www.example.com/ type: padlock check www.example.com",
        )
    port = DEFAULT_PORT
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise InvalidName(f"{target!r} opens '[' but does not close it.")
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidName(f"{target!r}: expected ':PORT' after ']'.")
            port = _port(rest[1:], target)
    elif text.count(":") == 1:
        host, _, raw = text.partition(":")
        port = _port(raw, target)
    else:
        host = text  # a bare name, or a bare IPv6 address
    if not host:
        raise InvalidName(f"{target!r} names no host.")
    return host, port


def _port(raw: str, target: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InvalidName(f"{target!r}: {raw!r} is not a port number (1-65535).")
    return int(raw)


# --------------------------------------------------------------------------- name matching


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def certificate_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of the subjectAltName; browsers ignore the CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return [], []
    dns = [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return dns, ips


def name_matches(cert: x509.Certificate, name: str) -> bool:
    """RFC 6125 / RFC 9525 matching as browsers do it: SAN only; ``*`` is the whole left-most
    label and stands for exactly one label; IP addresses match IP entries only."""
    dns, ips = certificate_names(cert)
    if _is_ip(name):
        return str(ipaddress.ip_address(name)) in ips
    try:
        wanted = pki_names.normalize_dns_name(name, allow_wildcard=False)
    except InvalidName:
        return False
    for entry in dns:
        if entry == wanted:
            return True
        wildcard = entry.startswith("*.") and entry.count(".") >= 2
        if wildcard and "." in wanted and wanted.split(".", 1)[1] == entry[2:]:
            return True
    return False


# --------------------------------------------------------------------------- the handshake


@dataclass(frozen=True)
class _Session:
    protocol: str | None
    cipher: str | None
    chain: tuple[bytes, ...]  # DER, as sent, leaf first


class _NotVerified(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _peer_chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The chain exactly as the server sent it, leaf first.

    Python 3.13 has ``SSLSocket.get_unverified_chain()``; 3.10-3.12 have the same call,
    undocumented, on the underlying ``_ssl._SSLSocket`` (CPython bpo-18233), returning
    ``_ssl.Certificate`` objects. If neither exists we return the leaf alone and the
    caller completes the chain from ``openssl s_client -showcerts``.
    """
    getter = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        items = getter() or []
        out = []
        for item in items:
            out.append(item if isinstance(item, bytes) else item.public_bytes(_DER))
        if out:
            return tuple(out)
    leaf = tls.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _handshake(
    host: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float
) -> _Session:
    """One TLS handshake; every failure becomes a padlock error (or _NotVerified)."""
    where = f"{host}:{port}"
    sni = None if _is_ip(server_name) else server_name
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            cipher = tls.cipher()
            return _Session(tls.version(), cipher[0] if cipher else None, _peer_chain(tls))
    except ssl.SSLCertVerificationError as exc:
        raise _NotVerified(str(exc.verify_message or exc.reason or exc)) from None
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise SiteUnreachable(
            f"The TLS handshake with {where} failed: {reason}.",
            hint="Is this port serving TLS (and TLS 1.2 or newer)? Check the server's error log.",
        ) from exc
    except TimeoutError as exc:
        raise SiteUnreachable(
            f"{where} did not answer within {timeout:g} seconds.",
            hint="Check that the server runs, and that no firewall drops the connection.",
        ) from exc
    except socket.gaierror as exc:
        raise SiteUnreachable(
            f"The name {host!r} does not resolve ({exc.strerror}).",
            hint="Check the spelling, or connect to an address and give --name for SNI.",
        ) from exc
    except ConnectionRefusedError as exc:
        raise SiteUnreachable(
            f"{where} refused the connection: nothing listens there.",
            hint="Start the server, or check the port (Listen / listen directives).",
        ) from exc
    except OSError as exc:
        raise SiteUnreachable(f"Cannot connect to {where}: {exc.strerror or exc}.") from exc


def _verifying_context(ca_files: Sequence[Path], ca_pem: bytes | None) -> ssl.SSLContext:
    """The system's trust store plus the given roots; the name is checked separately."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False  # we report the name on its own line, see name_matches
    ctx.verify_mode = ssl.CERT_REQUIRED
    for path in ca_files:
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise FileProblem(
                f"Cannot load trusted roots from {str(path)!r}: {exc}.",
                hint="--ca takes a PEM file of CA certificates.",
            ) from exc
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
    return ctx


def _looking_context() -> ssl.SSLContext:
    """Takes whatever the server sends: to show a broken chain, not to trust it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# --------------------------------------------------------------------------- OCSP staple

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class _SClient:
    staple: bool | None
    chain: tuple[bytes, ...]  # PEM blocks from -showcerts
    note: str | None


def _s_client(host: str, port: int, server_name: str, timeout: float) -> _SClient:
    """Ask ``openssl s_client -status -showcerts``.

    Python's ``ssl`` module cannot request a certificate status (no API for the
    status_request extension), so whether the server staples an OCSP response is asked
    of the openssl command line, which can. The same run returns the chain as sent.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        return _SClient(None, (), "OCSP staple not checked: the openssl command is not installed.")
    connect = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    args = [openssl, "s_client", "-connect", connect, "-status", "-showcerts"]
    if not _is_ip(server_name):
        args += ["-servername", server_name]
    try:
        proc = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return _SClient(None, (), f"OCSP staple not checked: openssl s_client failed ({exc}).")
    out = proc.stdout
    staple: bool | None = None
    if b"OCSP response: no response sent" in out:
        staple = False
    elif b"OCSP Response Status:" in out or b"OCSP Response Data:" in out:
        staple = True
    note = None if staple is not None else "OCSP staple: openssl s_client gave no answer."
    return _SClient(staple, tuple(_PEM_CERT.findall(out)), note)


# --------------------------------------------------------------------------- the check


def check(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    server_name: str | None = None,
    ca_files: Sequence[Path] = (),
    ca_pem: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    now: dt.datetime | None = None,
    ask_staple: bool = True,
    warn_days: int = WARN_DAYS,
    ocsp: bool = True,
) -> CheckResult:
    """Connect to ``host:port`` with SNI ``server_name`` (default: ``host``) and judge;
    with ``ocsp``, also ask the certificate's OCSP responder (a revoked one is broken)."""
    name = server_name or host
    base: dict[str, Any] = {
        "host": host,
        "port": port,
        "server_name": name,
        "checked_at": now or dt.datetime.now(dt.UTC),
    }
    context = _verifying_context(ca_files, ca_pem)
    verify_error: str | None = None
    try:
        session = _handshake(host, port, name, context, timeout)
    except _NotVerified as exc:
        verify_error = exc.message
        try:
            session = _handshake(host, port, name, _looking_context(), timeout)
        except SiteUnreachable as again:
            return CheckResult(**base, verdict=Verdict.BROKEN, problems=(again.message,))
    except SiteUnreachable as exc:
        return CheckResult(**base, verdict=Verdict.BROKEN, problems=(exc.message,))

    notes: list[str] = []
    chain_der = list(session.chain)
    staple: bool | None = None
    if ask_staple:
        sc = _s_client(host, port, name, timeout)
        staple = sc.staple
        if sc.note:
            notes.append(sc.note)
        if len(chain_der) <= 1 and len(sc.chain) > 1:
            chain_der = [
                x509.load_pem_x509_certificate(p).public_bytes(Encoding.DER) for p in sc.chain
            ]
    certs = [x509.load_der_x509_certificate(d) for d in chain_der]
    result = judge(
        base,
        session.protocol,
        session.cipher,
        certs,
        verify_error,
        staple,
        notes,
        warn_days,
    )
    if ocsp and len(certs) > 1:
        result = _with_revocation(result, certs[0], certs[1], timeout)
    return result


def _with_revocation(
    result: CheckResult, leaf: x509.Certificate, issuer: x509.Certificate, timeout: float
) -> CheckResult:
    """Ask the CA's OCSP responder (``site.revocation_status``): revoked is broken."""
    from dataclasses import replace

    from padlock.site.revocation_status import ocsp_status

    status = ocsp_status(leaf, issuer, now=result.checked_at, timeout=min(timeout, 5.0))
    if status.status == "revoked":
        when = f" on {_iso(status.revoked_at)}" if status.revoked_at else ""
        problem = (
            f"The certificate is revoked ({status.reason}{when}), says the CA's OCSP responder."
        )
        return replace(result, verdict=Verdict.BROKEN, problems=(*result.problems, problem))
    note = f"OCSP: {status.status}" + (f" ({status.detail})" if status.status != "good" else "")
    return replace(result, notes=(*result.notes, note))


def judge(
    base: dict[str, Any],
    protocol: str | None,
    cipher: str | None,
    certs: Sequence[x509.Certificate],
    verify_error: str | None,
    staple: bool | None,
    notes: Sequence[str] = (),
    warn_days: int = WARN_DAYS,
) -> CheckResult:
    """The verdict on a completed handshake (pure: no sockets, the clock is in ``base``)."""
    now: dt.datetime = base["checked_at"]
    name: str = base["server_name"]
    problems: list[str] = []
    warnings: list[str] = []
    if not certs:
        problems.append("The server sent no certificate.")
        return CheckResult(
            **base,
            verdict=Verdict.BROKEN,
            problems=tuple(problems),
            connected=True,
            protocol=protocol,
            cipher=cipher,
        )
    leaf = certs[0]
    if verify_error is not None:
        problems.append(f"The chain does not verify: {verify_error}.")
    matches = name_matches(leaf, name)
    if not matches:
        dns, ips = certificate_names(leaf)
        listed = ", ".join(dns + ips) or "no names"
        problems.append(f"The certificate is not for {name}: it names {listed}.")
    remaining = leaf.not_valid_after_utc - now
    days_left = remaining.days
    if remaining.total_seconds() < 0:
        problems.append(f"The certificate expired on {_iso(leaf.not_valid_after_utc)}.")
    elif leaf.not_valid_before_utc > now:
        problems.append(f"The certificate is not valid before {_iso(leaf.not_valid_before_utc)}.")
    elif days_left < warn_days:
        warnings.append(f"The certificate expires in {days_left} days (under {warn_days}).")
    if staple is False:
        notes = [*notes, "No OCSP response is stapled (not a failure: stapling is optional)."]
    verdict = Verdict.BROKEN if problems else Verdict.WARNING if warnings else Verdict.OK
    return CheckResult(
        **base,
        verdict=verdict,
        problems=tuple(problems),
        warnings=tuple(warnings),
        notes=tuple(notes),
        connected=True,
        protocol=protocol,
        cipher=cipher,
        chain=tuple(PresentedCertificate.of(c) for c in certs),
        verified=verify_error is None,
        verify_error=verify_error,
        name_matches=matches,
        days_left=days_left,
        ocsp_staple=staple,
        serial=serials.display(leaf.serial_number),
    )
