"""What padlock's two CA clients share at the border: the CA's URL, whom to trust for its
HTTPS, ``Retry-After``, and the CA's problem documents and silences as our errors.

The clients themselves are in :mod:`padlock.site.backend_rest` (padlock's REST API) and
:mod:`padlock.site.backend_acme` (any ACME directory). A problem document the CA sends
becomes the error class its type names (a ``rejectedIdentifier`` is a
:class:`~padlock.errors.RejectedIdentifier` here too), with the CA's own words as the
message; a failed connection becomes one :class:`~padlock.errors.CAUnreachable` sentence,
whichever library failed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from padlock import __version__, errors
from padlock.errors import (
    ACME_URN,
    PADLOCK_URN,
    CAError,
    CAUnreachable,
    ConfigError,
    FileProblem,
    PadlockError,
)
from padlock.fileio import read_bytes, write_atomic

USER_AGENT = f"padlock/{__version__}"
DEFAULT_TIMEOUT = 30.0
MAX_RETRY_AFTER = 300.0  # never sleep longer than this on one Retry-After


def check_ca_url(url: str, what: str = "The CA's URL") -> str:
    """An http(s) URL without a trailing slash, or an error that says what to type."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{what} {url!r} is not an http:// or https:// URL.",
            hint="Give the CA's address, e.g. https://ca.example.com (for ACME, the directory"
            " URL, e.g. https://acme-v02.api.letsencrypt.org/directory).",
        )
    return text.rstrip("/")


def retry_after_seconds(
    value: str | None,
    default: float,
    now: dt.datetime | None = None,
    cap: float = MAX_RETRY_AFTER,
) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), at most
    ``cap``; ``default`` when there is none or it cannot be read."""
    if not value:
        return default
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(delta, 0.0), cap)


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _error_classes() -> dict[str, type[PadlockError]]:
    out: dict[str, type[PadlockError]] = {}
    for value in vars(errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, PadlockError)
            and value is not PadlockError
            and value.problem not in out
        ):
            out[value.problem] = value
    return out


# What a "not found" means depends on what was asked for: a path padlock builds from --ca
# or --acme alone can only be missing when that URL is wrong; one with a request id, when
# the id is (or, if the CA's API is not there either, the URL).
CA_URL_HINT = (
    "Check --ca: it is the padlock CA's base URL, e.g. https://ca.example.com, as the CA"
    " was set up with (padlock serve --base-url), without /api/..."
)
ACME_DIRECTORY_HINT = (
    "Check --acme: it is the ACME directory's URL, e.g. https://ca.example.com/acme/directory"
    " (padlock's test certificates: .../acme/test/directory)."
)
REQUEST_ID_HINT = "Check the id; a request id is shown by padlock obtain and on the status page."
ACME_GONE_HINT = (
    "The CA no longer knows what padlock asked for; run padlock obtain again without"
    " --resume (a new order)."
)


def dns_failure(error: str | None, problem_type: str | None = None) -> bool:
    """Whether a failed domain check failed at DNS (the name has no address), not at the
    web server: ACME's ``dns`` problem (RFC 8555 section 6.7), or padlock's words for it."""
    if problem_type and problem_type.rsplit(":", 1)[-1] == "dns":
        return True
    text = (error or "").lower()
    return any(marker in text for marker in ("no a or aaaa record", "dns lookup of", "nxdomain"))


# Problems that describe the CA's own failure, not something the applicant can fix.
_SERVER_SIDE = {"serverInternal", "config", "storage", "lint", "caError", "caUnreachable"}


def error_from_problem(
    doc: Mapping[str, Any] | None,
    status: int,
    what: str,
    url: str,
    not_found_hint: str = CA_URL_HINT,
) -> PadlockError:
    """The PadlockError for a CA's problem document (RFC 7807 / RFC 8555 section 6.7);
    ``not_found_hint`` says what a "not found" means for what was asked."""
    if not isinstance(doc, Mapping):
        return CAError(
            f"The CA at {url} answered {what} with HTTP {status} and no problem document.",
            hint="Check the URL: is it the CA's address (padlock: the base URL; ACME: the"
            " directory)?",
        )
    ptype = str(doc.get("type") or "")
    code = ""
    for prefix in (ACME_URN, PADLOCK_URN):
        if ptype.startswith(prefix):
            code = ptype[len(prefix) :]
    detail = str(doc.get("detail") or doc.get("title") or f"HTTP {status}")
    subs = doc.get("subproblems")
    if isinstance(subs, list) and subs:
        parts = []
        for sub in subs[:3]:
            if isinstance(sub, Mapping) and str(sub.get("detail")) not in detail:
                ident = sub.get("identifier")
                name = ident.get("value") if isinstance(ident, Mapping) else None
                parts.append(f"{name}: {sub.get('detail')}" if name else str(sub.get("detail")))
        if parts:
            detail = detail.rstrip(".") + " (" + "; ".join(parts) + ")"
    cls = _error_classes().get(code, CAError)
    if code in _SERVER_SIDE or status >= 500:
        cls = CAError
    hint = None
    if code == "notFound" or status == 404:
        hint = not_found_hint
    return cls(f"The CA refused {what}: {_sentence(detail)}", hint=hint)


@dataclass(frozen=True)
class Trust:
    """Whom to trust for the CA's HTTPS: the system store, plus ``roots`` (--ca-root)."""

    roots: tuple[Path, ...] = ()

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        for root in self.roots:
            read_bytes(root, "CA root file")  # a clear error for a missing file
            try:
                ctx.load_verify_locations(cafile=str(root))
            except (ssl.SSLError, ValueError) as exc:
                raise FileProblem(
                    f"The CA root file {str(root)!r} holds no PEM certificate ({exc})."
                ) from exc
        return ctx

    def bundle(self, directory: Path) -> str | bool:
        """For requests (the ``acme`` package): True, or a CA bundle file with the system's
        roots and ours, written under ``directory``."""
        if not self.roots:
            return True
        self.ssl_context()  # the same checks, the same errors
        parts: list[bytes] = []
        system = ssl.get_default_verify_paths().cafile
        if system and os.path.isfile(system):
            parts.append(read_bytes(Path(system), "system CA bundle"))
        parts += [read_bytes(r, "CA root file") for r in self.roots]
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "ca-bundle.pem"
        write_atomic(path, b"\n".join(parts), mode=0o644, overwrite=True)
        return str(path)


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unreachable(url: str, exc: BaseException, timeout: float) -> CAUnreachable:
    """One sentence for "no answer from the CA", whichever library failed."""
    for inner in _cause_chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return CAUnreachable(
                f"The CA's HTTPS certificate at {url} does not verify"
                f" ({inner.verify_message or inner.reason}).",
                hint="If the CA uses a private root, give it with --ca-root ROOT.pem.",
            )
    text = str(exc)
    low = text.lower()
    if "timed out" in low or "timeout" in type(exc).__name__.lower():
        return CAUnreachable(
            f"The CA at {url} did not answer within {timeout:g} seconds.",
            hint="Check the URL and the network, then run the command again.",
        )
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        host = urlsplit(url).hostname
        return CAUnreachable(
            f"The CA's host name {host} does not resolve.", hint="Check the URL for typos."
        )
    if "refused" in low:
        why = "connection refused"
    elif "certificate" in low or "ssl" in low:
        why = "the TLS handshake failed"
    else:
        why = type(exc).__name__
    return CAUnreachable(
        f"Cannot reach the CA at {url}: {why}.",
        hint="Check the URL (scheme, host and port) and that the CA is running.",
    )


def parse_time(text: str) -> dt.datetime:
    """A time in a CA's answer (RFC 3339), in UTC when it names no zone."""
    when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def pem_certificates(data: bytes, what: str) -> list[Any]:
    """Certificates in a PEM chain, or a CAError saying the CA sent something else."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CAError(f"The CA's {what} is not a PEM certificate chain ({exc}).") from exc
    return list(certs)


__all__ = [
    "ACME_DIRECTORY_HINT",
    "ACME_GONE_HINT",
    "CA_URL_HINT",
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_AFTER",
    "REQUEST_ID_HINT",
    "USER_AGENT",
    "Trust",
    "check_ca_url",
    "dns_failure",
    "error_from_problem",
    "parse_time",
    "pem_certificates",
    "retry_after_seconds",
    "unreachable",
]
