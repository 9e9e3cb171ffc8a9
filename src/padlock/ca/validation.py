"""Domain control validation probes: HTTP file, DNS TXT, TLS-ALPN, and CAA.

Used by the enrollment service (BR 3.2.2.4.18 file at ``/.well-known/pki-validation/``,
BR 3.2.2.4.7 TXT at ``_pki-validation``) and by ACME (RFC 8555 section 8.3 http-01,
8.4 dns-01; RFC 8737 tls-alpn-01; draft-ietf-acme-dns-account-label-02 dns-account-01,
BR 3.2.2.4.7; draft-ietf-acme-dns-persist-02 dns-persist-01, BR 3.2.2.4.22). Every DNS
answer used carries the resolver's DNSSEC verdict into the evidence (``dnssec``: secure or
insecure); a bogus one is a refusal (ballot SC-085, :mod:`padlock.ca.lookup`). Every lookup
goes through the resolver and ports of :class:`VAConfig` (``PADLOCK_VA_RESOLVER``,
``PADLOCK_VA_HTTP_PORT``, ``PADLOCK_VA_TLS_PORT``) so tests point them at loopback servers;
nothing is skipped.

Foreign failures (socket, ``ssl.SSLError``, DNS timeouts, unparsable answers) become
padlock errors here, each with the ACME problem type that names it (connection, dns, tls,
incorrectResponse, caa), and every probe returns or carries its :class:`Evidence`.

Each HTTP or TLS probe has an overall deadline (``VAConfig.deadline``,
``PADLOCK_VA_DEADLINE``, 10 s by default) besides the per-read timeout: when it passes, a
watchdog shuts the socket down, so a server that drips its answer a byte at a time fails
the check instead of holding a worker. Redirects are followed only as BR 3.2.2.4.19 allows
them: 301, 302, 307 and 308, to http or https on port 80 or 443, at most 10.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from cryptography import x509

from padlock.acme import persist
from padlock.ca import lookup
from padlock.ca.lookup import DNSProblem as DNSProblem  # the probes' problems live here too
from padlock.ca.lookup import DNSSECProblem as DNSSECProblem
from padlock.errors import CAAForbidden, Malformed, PadlockError, Unauthorized

if TYPE_CHECKING:
    from padlock.config import Settings

ACME_TLS_ALPN = "acme-tls/1"
# RFC 8737 section 3: id-pe-acmeIdentifier.
OID_ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")
MAX_REDIRECTS = 10
MAX_BODY = 64 * 1024
MAX_LOCATION = 2048  # characters of a redirect's Location
DEADLINE = 10.0  # seconds for one probe (all its redirects); PADLOCK_VA_DEADLINE
REDIRECTS = (301, 302, 307, 308)  # BR 3.2.2.4.19; a 303 or 300 is an answer, not followed


class ConnectionProblem(PadlockError):
    problem = "connection"


class TLSProblem(PadlockError):
    problem = "tls"


class IncorrectResponse(PadlockError):
    problem = "incorrectResponse"


@dataclass(frozen=True)
class VAConfig:
    """Where validation looks. ``resolver`` None means the system's resolver."""

    resolver: tuple[str, int] | None = None
    http_port: int = 80
    tls_port: int = 443
    timeout: float = 5.0  # per connect and per read
    caa_identities: tuple[str, ...] = ()
    deadline: float = DEADLINE  # per probe, whatever it waits for

    @classmethod
    def for_settings(cls, settings: Settings) -> VAConfig:
        """The VA of these settings: the CAA identities default to the base URL's host."""
        host = urlsplit(settings.base_url).hostname or "padlock"
        return cls.from_settings(
            settings.va_resolver,
            settings.va_http_port,
            settings.va_tls_port,
            settings.caa_identities or (host,),
            deadline=settings.va_deadline,
        )

    @classmethod
    def from_settings(
        cls,
        resolver: str | None,
        http_port: int,
        tls_port: int,
        caa_identities: Sequence[str],
        deadline: float = DEADLINE,
    ) -> VAConfig:
        parsed = None
        if resolver:
            host, _, port = resolver.rpartition(":")
            parsed = (host.strip("[]") or "127.0.0.1", int(port or 53))
        return cls(
            parsed, http_port, tls_port, caa_identities=tuple(caa_identities), deadline=deadline
        )


@dataclass(frozen=True)
class Evidence:
    """What a probe did and saw: stored with the validation, shown to reviewers."""

    method: str
    name: str
    target: str  # URL fetched, or DNS name queried
    at: dt.datetime
    ok: bool
    addresses: tuple[str, ...] = ()
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "name": self.name,
            "target": self.target,
            "at": self.at.isoformat(),
            "ok": self.ok,
            "addresses": list(self.addresses),
            "detail": self.detail,
            **self.extra,
        }


class ProbeFailed(PadlockError):
    """A probe that did not confirm control; ``evidence`` says what was seen."""

    problem = "incorrectResponse"

    def __init__(self, cause: PadlockError, evidence: Evidence) -> None:
        super().__init__(cause.message, cause.hint)
        self.problem = cause.problem  # type: ignore[misc]
        self.evidence = evidence


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- DNS ------------------------------------------------------------------------------------


def _query(cfg: VAConfig, qname: str, rdtype: str) -> lookup.Answer:
    """Records of one type ([] for NXDOMAIN/NODATA) with the resolver's verdict; DNSProblem
    for failures (SERVFAIL, timeout), DNSSECProblem for a bogus answer (ballot SC-085; see
    padlock.ca.lookup)."""
    return lookup.query(cfg.resolver, cfg.timeout, qname, rdtype)


def verdict(answers: Sequence[lookup.Answer]) -> str:
    """The DNSSEC verdict of several answers: secure only when every one was."""
    return "secure" if answers and all(a.secure for a in answers) else "insecure"


def lookup_addresses(cfg: VAConfig, name: str) -> tuple[list[str], str]:
    """A then AAAA records of ``name`` and their DNSSEC verdict ("" for an IP address,
    which is not looked up); DNSProblem when there are none."""
    if _is_ip(name):
        return [name], ""
    answers = [_query(cfg, name, "A"), _query(cfg, name, "AAAA")]
    addresses = [r.address for a in answers for r in a.records]
    if not addresses:
        raise DNSProblem(
            f"{name} has no A or AAAA record.",
            hint="Point the name at your server in DNS, then check again.",
        )
    return addresses, verdict(answers)


def resolve_addresses(cfg: VAConfig, name: str) -> list[str]:
    """A then AAAA records of ``name``; DNSProblem when there are none."""
    return lookup_addresses(cfg, name)[0]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _txt(cfg: VAConfig, method: str, name: str, qname: str) -> tuple[list[str], lookup.Answer]:
    """The TXT values at ``qname`` (each record's strings joined, RFC 7208 section 3.3 style)
    and the answer; ProbeFailed with the evidence when the lookup fails."""
    at = _now()
    try:
        answer = _query(cfg, qname, "TXT")
    except DNSProblem as exc:
        dnssec = {"dnssec": "bogus"} if isinstance(exc, DNSSECProblem) else {}
        raise ProbeFailed(
            exc, Evidence(method, name, qname, at, False, detail=exc.message, extra=dnssec)
        ) from None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.records], answer


def check_dns_txt(
    cfg: VAConfig, name: str, qname: str, expected: str, method: str = "dns"
) -> Evidence:
    """A TXT record at ``qname`` equal to ``expected`` (RFC 8555 8.4; BR 3.2.2.4.7)."""
    at = _now()
    values, answer = _txt(cfg, method, name, qname)
    evidence = Evidence(
        method,
        name,
        qname,
        at,
        expected in values,
        detail="",
        extra={"txt": values, "dnssec": answer.dnssec},
    )
    if expected not in values:
        cause = IncorrectResponse(
            f"No TXT record at {qname} holds the expected value"
            + (f" (found: {', '.join(values)[:200]})." if values else " (no TXT records)."),
            hint=f"Add a TXT record {qname} with the value {expected}, wait for DNS, check again.",
        )
        raise ProbeFailed(cause, evidence)
    return evidence


def check_dns_account(cfg: VAConfig, name: str, qname: str, expected: str) -> Evidence:
    """dns-account-01: the dns-01 value at the account's own label, ``qname`` =
    ``_<label>._acme-challenge.<name>`` (draft-ietf-acme-dns-account-label-02 section 3.2;
    BR 3.2.2.4.7), so that another account's record beside it is no answer for this one."""
    return check_dns_txt(cfg, name, qname, expected, method="dns-account")


def check_dns_persist(cfg: VAConfig, name: str, qname: str, expected: persist.Expected) -> Evidence:
    """dns-persist-01 (draft-ietf-acme-dns-persist-02 section 4.2; BR 3.2.2.4.22): a TXT
    record at ``qname`` (``_validation-persist.<name>``) naming one of our issuer domain
    names and this account's hashed URI; failing that, one at a parent's
    ``_validation-persist`` label that says ``policy=wildcard`` (sections 5, 6.1). Every
    value is read afresh from DNS (section 4.2); a bogus answer fails (section 7.8.1)."""
    at = _now()
    found: list[tuple[str, list[str]]] = []
    answers: list[lookup.Answer] = []
    failure: PadlockError = Unauthorized("No record found.")
    for domain in persist.candidates(name):
        values, answer = _txt(cfg, "dns-persist", name, persist.persist_name(domain))
        found.append((domain, values))
        answers.append(answer)
        try:
            match = persist.judge(found, name, expected)
        except (Malformed, Unauthorized) as exc:
            failure = exc
            continue
        return Evidence(
            "dns-persist",
            name,
            persist.persist_name(match.domain),
            at,
            True,
            detail=match.value,
            extra={
                "txt": dict(found),
                "dnssec": verdict(answers),
                "persist_until": match.until.isoformat() if match.until else None,
                "policy": persist.WILDCARD if match.wildcard_policy else "",
            },
        )
    evidence = Evidence(
        "dns-persist",
        name,
        qname,
        at,
        False,
        detail=failure.message,
        extra={"txt": dict(found), "dnssec": verdict(answers)},
    )
    raise ProbeFailed(failure, evidence)


# --- HTTP -----------------------------------------------------------------------------------


class _Watchdog:
    """Shuts a probe's socket down once its deadline passes, whatever the probe waits for
    (a connect, a TLS handshake, headers or a body sent a byte at a time)."""

    def __init__(self, until: float) -> None:
        self.until = until
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, until - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @property
    def over(self) -> bool:
        """The deadline has passed, whether or not the timer has fired yet (a socket timeout
        set to the time left can end a read a moment before the timer thread runs)."""
        return self.expired or time.monotonic() >= self.until

    def left(self, timeout: float) -> float:
        """The per-operation timeout, never past the deadline."""
        return max(0.01, min(timeout, self.until - time.monotonic()))

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)
        return sock

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # a blocked recv() in the probe's thread returns


def _connect(
    cfg: VAConfig, dog: _Watchdog, address: str, port: int, tls_host: str | None, alpn: str = ""
) -> socket.socket:
    """A socket to ``address:port`` (TLS with SNI ``tls_host`` if given) under ``dog``."""
    sock = dog.watch(socket.create_connection((address, port), timeout=dog.left(cfg.timeout)))
    if tls_host is None:
        return sock
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    # RFC 8555 8.3: https redirects are followed without verifying the certificate;
    # RFC 8737 3: the tls-alpn-01 certificate is self-signed by design.
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols([alpn])
    try:
        return dog.watch(ctx.wrap_socket(sock, server_hostname=tls_host))
    except BaseException:
        sock.close()
        raise


def _http_get(
    cfg: VAConfig, dog: _Watchdog, url: str, host: str, address: str
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` from ``address`` with Host ``host``: one hop, no redirect following."""
    parts = urlsplit(url)
    port = parts.port or (cfg.http_port if parts.scheme == "http" else cfg.tls_port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        sock = _connect(cfg, dog, address, port, host if parts.scheme == "https" else None)
        conn = http.client.HTTPConnection(address, port, timeout=cfg.timeout)
        conn.sock = sock
        try:
            conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            host_field = _url_host(host)
            conn.putheader("Host", host_field if port in (80, 443) else f"{host_field}:{port}")
            conn.putheader("User-Agent", "padlock-va")
            conn.putheader("Connection", "close")
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
            headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if dog.over:
            raise _late(cfg, url) from exc
        if isinstance(exc, TimeoutError | socket.timeout):
            raise ConnectionProblem(f"Fetching {url} from {address} timed out.") from exc
        if isinstance(exc, ssl.SSLError):
            raise TLSProblem(f"TLS with {address}:{port} failed: {exc.reason or exc}.") from exc
        if isinstance(exc, OSError):
            why = exc.strerror or exc
            raise ConnectionProblem(f"Fetching {url} from {address} failed: {why}.") from exc
        raise IncorrectResponse(
            f"{url} (from {address}) answered with something that is not HTTP: {exc!r:.120}."
        ) from exc
    if dog.expired:  # the watchdog cut the answer short
        raise _late(cfg, url)
    return resp.status, headers, body


def _url_host(host: str) -> str:
    """A host as a URL or Host header writes it: an IPv6 address in brackets (RFC 3986
    3.2.2; RFC 8738 section 5: http-01 to an IP fetches ``http://<address>/...``)."""
    return f"[{host}]" if ":" in host else host


def _late(cfg: VAConfig, target: str) -> ConnectionProblem:
    return ConnectionProblem(
        f"The check of {target} took longer than {cfg.deadline:g} s, its deadline.",
        hint="The server must answer the check promptly and in full.",
    )


def _redirect_target(url: str, location: str) -> str:
    """Where a redirect leads, if BR 3.2.2.4.19 lets us follow it; IncorrectResponse if not."""
    if len(location) > MAX_LOCATION:
        raise IncorrectResponse(f"{url} redirects to a Location of over {MAX_LOCATION} characters.")
    try:
        ref = urlsplit(location.strip())
        absolute = ref.scheme in ("http", "https") or location.strip().startswith("//")
        if absolute and not ref.hostname:
            raise IncorrectResponse(f"{url} redirects to {location[:200]!r}, which names no host.")
        nxt = urljoin(url, location.strip())
        parts = urlsplit(nxt)
        port = parts.port
    except ValueError as exc:
        raise IncorrectResponse(
            f"{url} redirects to {location[:200]!r}, not a URL: {exc}."
        ) from None
    if parts.scheme not in ("http", "https"):
        raise IncorrectResponse(
            f"{url} redirects to {nxt[:200]}, which is not allowed: only http and https"
            " (BR 3.2.2.4.19)."
        )
    if not parts.hostname:
        raise IncorrectResponse(f"{url} redirects to {nxt[:200]}, which names no host.")
    if port not in (None, 80, 443):
        raise IncorrectResponse(
            f"{url} redirects to {nxt[:200]}, which is not allowed: only ports 80 and 443"
            " (BR 3.2.2.4.19)."
        )
    return nxt


def check_http(cfg: VAConfig, name: str, path: str, expected: str, *, exact: bool) -> Evidence:
    """Fetch ``http://name/path``; the body must equal (ACME) or contain (BR file) ``expected``."""
    at = _now()
    url = f"http://{_url_host(name)}{path}"
    seen: list[str] = []
    dnssec: list[str] = []  # each hop's address lookup: secure or insecure
    try:
        with _Watchdog(time.monotonic() + cfg.deadline) as dog:
            status, addresses, body, url = _follow(cfg, dog, name, url, seen, dnssec)
        return _with_dnssec(
            _judge_http(name, path, url, at, status, addresses, body, expected, exact, seen),
            dnssec,
        )
    except ProbeFailed as exc:
        exc.evidence = _with_dnssec(exc.evidence, dnssec)
        raise
    except PadlockError as exc:
        evidence = Evidence("http", name, url, at, False, detail=exc.message, extra={"hops": seen})
        raise ProbeFailed(exc, _with_dnssec(evidence, dnssec)) from None


def _with_dnssec(evidence: Evidence, verdicts: Sequence[str]) -> Evidence:
    """The evidence with the DNSSEC verdict of the address lookups it used (none for an
    IP address, which is not looked up; "bogus" never gets this far: it is a refusal)."""
    used = [v for v in verdicts if v]
    if not used:
        return evidence
    worst = "secure" if all(v == "secure" for v in used) else "insecure"
    return replace(evidence, extra={**evidence.extra, "dnssec": worst})


def _follow(
    cfg: VAConfig, dog: _Watchdog, name: str, url: str, seen: list[str], dnssec: list[str]
) -> tuple[int, list[str], bytes, str]:
    """Fetch ``url``, following allowed redirects; each hop is written to ``seen``."""
    visited: set[str] = set()
    for _hop in range(MAX_REDIRECTS + 1):
        if url in visited:
            raise IncorrectResponse(f"The redirects from http://{name} loop back to {url}.")
        visited.add(url)
        if dog.over:
            raise _late(cfg, url)
        host = urlsplit(url).hostname or name
        addresses, secure = lookup_addresses(cfg, host)
        dnssec.append(secure)
        status, headers, body = _http_get(cfg, dog, url, host, addresses[0])
        seen.append(f"{url} -> {status}")
        if status not in REDIRECTS or "location" not in headers:
            return status, addresses, body, url
        url = _redirect_target(url, headers["location"])
    raise IncorrectResponse(f"More than {MAX_REDIRECTS} redirects from http://{name}.")


def _judge_http(
    name: str,
    path: str,
    url: str,
    at: dt.datetime,
    status: int,
    addresses: list[str],
    body: bytes,
    expected: str,
    exact: bool,
    seen: list[str],
) -> Evidence:
    """The evidence of a fetched answer, or ProbeFailed carrying it."""
    text = body[:MAX_BODY].decode("utf-8", "replace")
    found = len(body) <= MAX_BODY and (text.strip() == expected if exact else expected in text)
    evidence = Evidence(
        "http",
        name,
        url,
        at,
        status == 200 and found,
        tuple(addresses),
        detail=f"HTTP {status}",
        extra={"hops": seen, "body_start": text[:200]},
    )
    if status != 200:
        hint = f"Put the file at {path} on the server that answers for {name}."
        if 300 <= status < 400:
            hint = "Only 301, 302, 307 and 308 redirects are followed (BR 3.2.2.4.19)."
        raise ProbeFailed(
            IncorrectResponse(f"{url} answered HTTP {status}, not 200.", hint=hint), evidence
        )
    if len(body) > MAX_BODY:
        raise ProbeFailed(
            IncorrectResponse(
                f"{url} answered more than {MAX_BODY // 1024} KiB.",
                hint=f"The file at {path} holds only the expected value.",
            ),
            evidence,
        )
    if not found:
        raise ProbeFailed(
            IncorrectResponse(
                f"{url} does not hold the expected content (it starts: {text[:60]!r}).",
                hint=f"The file at {path} must contain exactly: {expected}",
            ),
            evidence,
        )
    return evidence


# --- TLS-ALPN-01 ----------------------------------------------------------------------------


def check_tls_alpn(cfg: VAConfig, name: str, key_authorization: str) -> Evidence:
    """RFC 8737: the server answers SNI ``name`` with ALPN acme-tls/1 and a certificate whose
    only SAN is ``name`` and whose critical acmeIdentifier holds SHA-256(key authorization).
    For an IP address (RFC 8738 section 6) the connection goes to the address itself, the SNI
    is its reverse-mapping name (``4.3.2.1.in-addr.arpa``, ``...ip6.arpa``: SNI cannot carry
    an address, RFC 6066 section 3) and the one SAN is an iPAddress."""
    at = _now()
    expected = hashlib.sha256(key_authorization.encode()).digest()
    ip = ipaddress.ip_address(name) if _is_ip(name) else None
    sni = ip.reverse_pointer if ip is not None else name
    target = f"{_url_host(name)}:{cfg.tls_port}"
    try:
        addresses, dnssec = lookup_addresses(cfg, name)
        with _Watchdog(time.monotonic() + cfg.deadline) as dog:
            try:
                tls = _connect(cfg, dog, addresses[0], cfg.tls_port, sni, ACME_TLS_ALPN)
                with tls:
                    alpn = tls.selected_alpn_protocol()  # type: ignore[attr-defined]
                    der = tls.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            except OSError as exc:
                if dog.over:
                    raise _late(cfg, target) from exc
                if isinstance(exc, ssl.SSLError):
                    reason = exc.reason or exc
                    raise TLSProblem(f"TLS handshake with {target} failed: {reason}.") from exc
                why = exc.strerror or exc
                raise ConnectionProblem(f"Cannot connect to {target}: {why}.") from exc
        if alpn != ACME_TLS_ALPN:
            raise TLSProblem(f"{target} did not negotiate ALPN {ACME_TLS_ALPN} (got {alpn!r}).")
        if not der:
            raise TLSProblem(f"{target} presented no certificate.")
        cert = x509.load_der_x509_certificate(der)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ext = cert.extensions.get_extension_for_oid(OID_ACME_IDENTIFIER)
        except x509.ExtensionNotFound as exc:
            raise IncorrectResponse(
                f"The certificate from {target} lacks {exc.oid.dotted_string}."
            ) from None
        if not _names_only(sans, name, ip):
            what = f"the IP address {name} (an iPAddress SAN)" if ip else name
            raise IncorrectResponse(f"The certificate from {target} must name only {what}.")
        if not ext.critical:
            raise IncorrectResponse("The acmeIdentifier extension must be critical (RFC 8737 3).")
        value = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        # The extension value is an OCTET STRING of 32 bytes: 04 20 || digest.
        if value != b"\x04\x20" + expected:
            raise IncorrectResponse(f"The acmeIdentifier from {target} does not match.")
        evidence = Evidence(
            "tls-alpn", name, target, at, True, tuple(addresses), detail="acme-tls/1 ok"
        )
        return _with_dnssec(evidence, [dnssec])
    except ProbeFailed:
        raise
    except PadlockError as exc:
        raise ProbeFailed(
            exc, Evidence("tls-alpn", name, target, at, False, detail=exc.message)
        ) from None


def _names_only(
    sans: x509.SubjectAlternativeName,
    name: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> bool:
    """The SAN holds one name, the one validated (RFC 8737 section 3, RFC 8738 section 6)."""
    if len(list(sans)) != 1:
        return False
    if ip is not None:
        return sans.get_values_for_type(x509.IPAddress) == [ip]
    return [n.lower() for n in sans.get_values_for_type(x509.DNSName)] == [name]


# --- CAA (RFC 8659) -------------------------------------------------------------------------


def _caa_set(cfg: VAConfig, name: str) -> tuple[str, list[Any], str]:
    """The relevant CAA RRset: climb from ``name`` towards the root (RFC 8659 section 3);
    with the DNSSEC verdict of every answer the climb used."""
    labels = name.split(".")
    answers: list[lookup.Answer] = []
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if not candidate:
            break
        answers.append(_query(cfg, candidate, "CAA"))
        if answers[-1].records:
            return candidate, answers[-1].records, verdict(answers)
    return "", [], verdict(answers)


# RFC 8657 section 4: the names padlock's methods go by in a CAA ``validationmethods``
# list. ACME methods are their challenge types; the enrollment (REST/portal) methods are
# padlock's own, so their names carry the "ca-" prefix section 4 reserves for CA-specific,
# non-ACME methods. docs/acme.md lists them for domain owners.
CAA_METHOD_NAMES: dict[str, str] = {
    "http-01": "http-01",  # RFC 8555 8.3 (BR 3.2.2.4.19)
    "dns-01": "dns-01",  # RFC 8555 8.4 (BR 3.2.2.4.7)
    "tls-alpn-01": "tls-alpn-01",  # RFC 8737 (BR 3.2.2.4.20)
    # draft-ietf-acme-dns-account-label-02 (BR 3.2.2.4.7 DNS Change, at the account's label)
    "dns-account-01": "dns-account-01",
    # draft-ietf-acme-dns-persist-02 section 7.7 (BR 3.2.2.4.22 DNS TXT Record with
    # Persistent Value)
    "dns-persist-01": "dns-persist-01",
    "http": "ca-website-change",  # BR 3.2.2.4.18 Agreed-Upon Change to Website v2
    "dns": "ca-dns-change",  # BR 3.2.2.4.7 DNS Change (TXT at _pki-validation)
}

# RFC 8657: accounturi is a URI (RFC 3986: scheme ":" ...); validationmethods a
# comma-separated list of method names.
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x3a\x3c-\x7e]+")
_METHODS_RE = re.compile(r"[A-Za-z0-9-]+(?:,[A-Za-z0-9-]+)*")


@dataclass(frozen=True)
class CAAProperty:
    """One issue/issuewild property, parsed (RFC 8659 4.2); ``malformed`` says why it is
    unusable, which makes it authorize nothing."""

    flags: int
    tag: str
    value: str
    issuer: str = ""
    params: tuple[tuple[str, str], ...] = ()
    malformed: str = ""

    @property
    def quoted(self) -> str:
        """The record as published, for error messages."""
        return f'CAA {self.flags} {self.tag} "{self.value}"'

    def values(self, tag: str) -> list[str]:
        return [v for t, v in self.params if t == tag]


def parse_caa_property(flags: int, tag: str, value: str) -> CAAProperty:
    """An issue/issuewild value split into issuer and parameters; malformed per RFC 8659
    4.2 or RFC 8657 sections 3 and 4 (a bad or repeated accounturi/validationmethods)."""
    split = persist.split_issue_value(value)
    prop = CAAProperty(flags, tag, value, split.issuer, split.params, split.malformed)
    if prop.malformed:
        return prop
    for name, pattern, section in (
        ("accounturi", _URI_RE, "3"),
        ("validationmethods", _METHODS_RE, "4"),
    ):
        found = prop.values(name)
        if len(found) > 1:
            return replace(prop, malformed=f"{name} is given twice (RFC 8657 section {section})")
        if found and not pattern.fullmatch(found[0]):
            why = f"{name}={found[0]!r} is not valid (RFC 8657 section {section})"
            return replace(prop, malformed=why)
    return prop


def caa_refusal(prop: CAAProperty, account_uri: str | None, method: str | None) -> str:
    """Why this property of ours does not authorize this request; "" when it does."""
    if prop.malformed:
        return f"{prop.quoted} is unusable: {prop.malformed}"
    accounts = prop.values("accounturi")
    if accounts and account_uri is None:
        return (
            f"{prop.quoted} allows only the ACME account {accounts[0]}; this request is not"
            " made by an ACME account (RFC 8657 section 3)"
        )
    if accounts and accounts[0] != account_uri:
        return (
            f"{prop.quoted} allows only the ACME account {accounts[0]}, not {account_uri}"
            " (RFC 8657 section 3)"
        )
    methods = prop.values("validationmethods")
    name = CAA_METHOD_NAMES.get(method or "", method or "")
    if methods and name not in methods[0].split(","):
        return (
            f"{prop.quoted} allows only the validation methods {methods[0]}, not"
            f" {name or 'an unnamed method'} (RFC 8657 section 4)"
        )
    return ""


def check_caa(
    cfg: VAConfig,
    name: str,
    *,
    wildcard: bool = False,
    account_uri: str | None = None,
    method: str | None = None,
) -> Evidence:
    """Refuse when CAA forbids us, or when the lookup fails (BR 3.2.2.8: fail closed).
    ``account_uri`` (the ACME account's URL; None for REST/portal requests) and ``method``
    (the challenge type, or the enrollment method "http"/"dns") are checked against the
    properties' accounturi and validationmethods (RFC 8657)."""
    at = _now()
    lookup = name[2:] if name.startswith("*.") else name
    try:
        where, records, dnssec = _caa_set(cfg, lookup)
    except DNSProblem as exc:
        raise CAAForbidden(
            f"The CAA lookup for {name} failed ({exc.message}); issuance stops (BR 3.2.2.8).",
            hint="Fix the DNS server answering for this name, then try again.",
        ) from None
    if not records:
        return Evidence(
            "caa",
            name,
            lookup,
            at,
            True,
            detail="no CAA records: any CA may issue",
            extra={"dnssec": dnssec},
        )
    for r in records:
        tag = r.tag.decode().lower()
        if r.flags & 0x80 and tag not in ("issue", "issuewild", "iodef"):
            raise CAAForbidden(
                f"CAA at {where} has a critical tag {tag!r} padlock does not understand.",
            )
    issue = [r for r in records if r.tag.decode().lower() == "issue"]
    issuewild = [r for r in records if r.tag.decode().lower() == "issuewild"]
    relevant = issuewild if (wildcard and issuewild) else issue
    if not relevant:
        detail = "CAA has no issue property for this"
        return Evidence("caa", name, where, at, True, detail=detail, extra={"dnssec": dnssec})
    props = [
        parse_caa_property(r.flags, r.tag.decode().lower(), r.value.decode("utf-8", "replace"))
        for r in relevant
    ]
    ours = {i.lower() for i in cfg.caa_identities}
    mine = [p for p in props if p.issuer in ours]
    why = [caa_refusal(p, account_uri, method) for p in mine]
    extra = {
        "account": account_uri,
        "validation_method": CAA_METHOD_NAMES.get(method or "", method),
        "dnssec": dnssec,
    }
    detail = "; ".join(p.value for p in props)
    if mine and not all(why):
        return Evidence("caa", name, where, at, True, detail=detail, extra=extra)
    if mine:
        raise CAAForbidden(
            f"CAA at {where} does not allow this request: " + "; ".join(why) + ".",
            hint="Order as the record says, or change the CAA record to allow this.",
        )
    raise CAAForbidden(
        f"CAA records at {where} allow only {', '.join(p.value for p in props) or 'no CA'};"
        f" this CA is {', '.join(sorted(ours)) or '(unnamed)'}.",
        hint=f'Add a CAA record: {where}. CAA 0 issue "{sorted(ours)[0] if ours else ""}"',
    )
