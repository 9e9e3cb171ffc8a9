"""The site owner's side of the counter: clients of a CA, and the two ways of answering its
HTTP check.

- :class:`RestClient` speaks padlock's enrollment REST API (``/api/v1``, httpx): submit a
  CSR, run the domain checks, fetch the certificate.
- :class:`AcmeClient` speaks RFC 8555 to *any* ACME directory (padlock's, Let's Encrypt's)
  through certbot's ``acme`` package, the only module of padlock that imports it. The
  account key lives in a directory of its own (mode 0600); polling honours ``Retry-After``.
- :class:`Webroot` and :class:`Standalone` answer an HTTP check: by files under the web
  server's document root, or by a small HTTP listener of our own on a given port.

This module is the border: every exception of httpx, requests, ``acme`` and josepy is
translated here, once, into a :class:`~padlock.errors.PadlockError` raised ``from`` the
original. A problem document the CA sends becomes the error class its type names (a
``rejectedIdentifier`` is a :class:`~padlock.errors.RejectedIdentifier` here too), with the
CA's own words as the message.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import datetime as dt
import email.utils
import json
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.b64 import b64decode
from josepy.errors import DeserializationError
from josepy.json_util import field as jose_field
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from acme import challenges as acme_challenges
from acme import client as acme_client
from acme import crypto_util as acme_crypto_util
from acme import errors as acme_errors
from acme import messages
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
from padlock.pki import keys as pki_keys

USER_AGENT = f"padlock/{__version__}"
DEFAULT_TIMEOUT = 30.0
MAX_RETRY_AFTER = 300.0  # never sleep longer than this on one Retry-After
_RETRIES = 3  # for 429/503 answers with a Retry-After we can afford
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PKI_VALIDATION_PATH = re.compile(r"/\.well-known/pki-validation/[A-Za-z0-9_-]{1,256}\.txt")
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"

T = TypeVar("T")


# --------------------------------------------------------------------------- shared


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


# --------------------------------------------------------------------------- REST


@dataclass(frozen=True)
class RestChallenge:
    """One name's domain check as the padlock CA describes it."""

    name: str
    state: str  # pending | valid | expired
    token: str
    http_url: str | None  # None for wildcards (DNS only)
    dns_record: str
    error: str | None

    @property
    def http_path(self) -> str | None:
        if not self.http_url:
            return None
        path = urlsplit(self.http_url).path
        if not _PKI_VALIDATION_PATH.fullmatch(path):
            raise CAError(f"The CA asked for a file at an unexpected path ({path!r}).")
        return path


@dataclass(frozen=True)
class RestCertificate:
    serial: str
    state: str  # issued | revoked | ...
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class RestRequest:
    """A request as ``GET /api/v1/requests/{id}`` shows it."""

    id: str
    kind: str
    state: str  # submitted | validating | in_review | issued | rejected
    status_url: str
    names: tuple[str, ...]
    challenges: tuple[RestChallenge, ...]
    certificate: RestCertificate | None
    problem: str | None
    rejection_reason: str | None

    @classmethod
    def parse(cls, doc: Any, url: str) -> RestRequest:
        try:
            cert = doc.get("certificate")
            return cls(
                id=str(doc["id"]),
                kind=str(doc["kind"]),
                state=str(doc["state"]),
                status_url=str(doc["status_url"]),
                names=tuple(str(n) for n in doc["names"]),
                challenges=tuple(
                    RestChallenge(
                        name=str(c["name"]),
                        state=str(c["state"]),
                        token=str(c["token"]),
                        http_url=c.get("http_url"),
                        dns_record=str(c.get("dns_record") or ""),
                        error=c.get("error"),
                    )
                    for c in doc.get("challenges") or ()
                ),
                certificate=RestCertificate(
                    serial=str(cert["serial"]),
                    state=str(cert["state"]),
                    not_before=_parse_time(cert["not_before"]),
                    not_after=_parse_time(cert["not_after"]),
                )
                if cert
                else None,
                problem=doc.get("problem"),
                rejection_reason=doc.get("rejection_reason"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CAError(
                f"The answer from {url} is not a padlock enrollment request ({exc!r} missing or"
                " wrong).",
                hint="Check --ca: it is the padlock CA's base URL.",
            ) from exc


def _parse_time(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class RestClient:
    """padlock's enrollment REST API (see ``padlock.web.rest_api``)."""

    def __init__(
        self,
        base_url: str,
        *,
        trust: Trust = Trust(),
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_ca_url(base_url)
        self.timeout = timeout
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=trust.ssl_context(),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        params: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> httpx.Response:
        url = self.base_url + path
        for attempt in range(_RETRIES):
            try:
                resp = self._http.request(method, path, json=json_body, files=files, params=params)
            except httpx.HTTPError as exc:  # transport errors: connect, read, TLS, timeouts
                raise unreachable(self.base_url, exc, self.timeout) from exc
            if resp.status_code in (429, 503) and attempt + 1 < _RETRIES:
                wait = retry_after_seconds(resp.headers.get("Retry-After"), -1.0)
                if 0 <= wait <= 60:
                    self._sleep(wait)
                    continue
            if resp.is_success:
                return resp
            try:
                doc = resp.json()
            except ValueError:
                doc = None
            hint = CA_URL_HINT
            if (
                resp.status_code == 404
                and request_id is not None
                and isinstance(doc, Mapping)
                and self._api_here()
            ):
                hint = REQUEST_ID_HINT
            raise error_from_problem(doc, resp.status_code, what, url, hint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _api_here(self) -> bool:
        """Whether --ca leads to padlock's enrollment API: its collection answers anything
        but 404 to a GET (it takes POST only), so a 404 for an id means the id is wrong."""
        try:
            resp = self._http.get("/api/v1/requests")
        except httpx.HTTPError:
            return False
        return resp.status_code != 404

    def _request(self, resp: httpx.Response) -> RestRequest:
        try:
            doc = resp.json()
        except ValueError as exc:
            raise CAError(
                f"The answer from {resp.request.url} is not JSON; is {self.base_url} a padlock CA?",
                hint="Check --ca: it is the padlock CA's base URL.",
            ) from exc
        return RestRequest.parse(doc, str(resp.request.url))

    @staticmethod
    def _id(request_id: str) -> str:
        return quote(request_id, safe="")

    def submit(
        self,
        csr_pem: str,
        kind: str,
        contact: str,
        organization: Mapping[str, str | None] | None = None,
        previous_request: str | None = None,
    ) -> RestRequest:
        body: dict[str, Any] = {"csr": csr_pem, "kind": kind, "contact": contact}
        if organization is not None:
            body["organization"] = dict(organization)
        if previous_request is not None:
            body["previous_request"] = previous_request
        resp = self._call("POST", "/api/v1/requests", "the request", json_body=body)
        return self._request(resp)

    def get(self, request_id: str) -> RestRequest:
        resp = self._call(
            "GET",
            f"/api/v1/requests/{self._id(request_id)}",
            f"to show request {request_id}",
            request_id=request_id,
        )
        return self._request(resp)

    def validate(self, request_id: str) -> RestRequest:
        resp = self._call(
            "POST",
            f"/api/v1/requests/{self._id(request_id)}/validate",
            "the domain checks",
            request_id=request_id,
        )
        return self._request(resp)

    def upload_document(self, request_id: str, path: Path) -> None:
        content = read_bytes(path, "document", limit=10 * 1024 * 1024)
        self._call(
            "POST",
            f"/api/v1/requests/{self._id(request_id)}/documents",
            f"the document {path.name}",
            files={"file": (path.name, content)},
            request_id=request_id,
        )

    def certificate_chain(self, request_id: str) -> bytes:
        """The issued certificate and its issuing CA, leaf first (PEM)."""
        resp = self._call(
            "GET",
            f"/api/v1/requests/{self._id(request_id)}/certificate",
            "to hand out the certificate",
            params={"format": "chain"},
            request_id=request_id,
        )
        return resp.content


# --------------------------------------------------------------------------- ACME


@dataclass(frozen=True)
class AcmeChallenge:
    url: str
    type: str
    status: str
    token: str | None
    error: str | None
    error_type: str | None = None  # the problem's type, e.g. urn:ietf:params:acme:error:dns


@dataclass(frozen=True)
class AcmeAuthorization:
    url: str
    identifier: str
    status: str  # pending | valid | invalid | deactivated | expired | revoked
    wildcard: bool
    challenges: tuple[AcmeChallenge, ...]

    def http01(self) -> AcmeChallenge | None:
        return next((c for c in self.challenges if c.type == "http-01"), None)

    @property
    def error(self) -> str | None:
        return next((c.error for c in self.challenges if c.error), None)

    @property
    def error_type(self) -> str | None:
        return next((c.error_type for c in self.challenges if c.error), None)


@dataclass(frozen=True)
class AcmeOrder:
    url: str
    status: str  # pending | ready | processing | valid | invalid
    authorizations: tuple[str, ...]
    finalize: str
    certificate: str | None
    error: str | None
    retry_after: float | None = None


@dataclass(frozen=True)
class RenewalWindow:
    """RFC 9773: when the CA suggests renewing this certificate."""

    start: dt.datetime
    end: dt.datetime
    retry_after: float
    explanation_url: str | None = None


@dataclass(frozen=True)
class AcmeAccount:
    uri: str
    directory: str
    contact: str | None
    key_file: Path
    created: bool


def cert_id(cert: Any) -> str:
    """The RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = int(cert.serial_number)
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER content bytes

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki.key_identifier or b'')}.{b64(raw)}"


class AcmeClient:
    """An ACME (RFC 8555) client for one directory, with the account key kept in
    ``account_dir`` (``key.pem``, mode 0600, and ``account.json``)."""

    def __init__(
        self,
        directory_url: str,
        account_dir: Path,
        *,
        trust: Trust = Trust(),
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory_url = check_ca_url(directory_url, "The ACME directory URL")
        self.account_dir = account_dir
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        verify = trust.bundle(account_dir)
        self._net = acme_client.ClientNetwork(
            key=None,
            alg=ES256,
            verify_ssl=verify,  # type: ignore[arg-type]  # requests takes a bundle path too
            user_agent=USER_AGENT,
            timeout=int(timeout),
        )
        with self._translate("the directory request"):
            directory = acme_client.ClientV2.get_directory(self.directory_url, self._net)
        self._client = acme_client.ClientV2(directory, self._net)
        self._key: Any = None

    # -- the border ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        url = self.directory_url
        try:
            yield
        except PadlockError:
            raise
        except messages.Error as exc:
            hint = ACME_DIRECTORY_HINT if what == "the directory request" else ACME_GONE_HINT
            raise error_from_problem(exc.to_partial_json(), 400, what, url, hint) from exc
        except requests.exceptions.RequestException as exc:
            raise unreachable(url, exc, self.timeout) from exc
        except acme_errors.ValidationError as exc:
            raise errors.ValidationFailed(f"The CA could not confirm the names: {exc}.") from exc
        except (acme_errors.Error, DeserializationError, ValueError, KeyError) as exc:
            raise CAError(
                f"The answer from {url} to {what} is not what ACME (RFC 8555) prescribes ({exc}).",
                hint="Check the URL: it must be the ACME directory, e.g. .../directory.",
            ) from exc

    def _post_as_get(self, url: str, what: str) -> Any:
        with self._translate(what):
            # RFC 8555 section 6.3: an empty payload; the acme package's own POST-as-GET.
            return self._net.post(url, None)

    # -- the directory -------------------------------------------------------------------

    def _meta(self, name: str) -> Any:
        try:
            meta = self._client.directory.meta
        except (KeyError, AttributeError):
            return None
        return getattr(meta, name, None)

    @property
    def terms_of_service(self) -> str | None:
        value = self._meta("terms_of_service")
        return str(value) if value else None

    @property
    def profiles(self) -> dict[str, str]:
        value = self._meta("profiles")
        return {str(k): str(v) for k, v in dict(value or {}).items()}

    @property
    def renewal_info_url(self) -> str | None:
        try:
            return str(self._client.directory["renewalInfo"])
        except KeyError:
            return None

    # -- the account ---------------------------------------------------------------------

    def account(self, contact: str | None, agree_tos: bool) -> AcmeAccount:
        """The account of this directory: loaded from ``account_dir``, or registered."""
        key_file = self.account_dir / "key.pem"
        info_file = self.account_dir / "account.json"
        if key_file.exists():
            key = pki_keys.load_private_key(
                read_bytes(key_file, "ACME account key"), None, "The ACME account key"
            )
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            self.account_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(key_file, pki_keys.private_key_pem(key, None), mode=0o600)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"The ACME account key {key_file} is not an EC key.")
        self._key = JWKEC(key=key)
        self._net.key = self._key
        saved: dict[str, Any] = {}
        if info_file.exists():
            try:
                saved = json.loads(read_bytes(info_file, "ACME account file"))
            except ValueError:
                saved = {}
        if saved.get("uri") and saved.get("directory") == self.directory_url:
            self._net.account = messages.RegistrationResource(
                uri=saved["uri"], body=messages.Registration()
            )
            return AcmeAccount(
                saved["uri"], self.directory_url, saved.get("contact"), key_file, False
            )
        terms = self.terms_of_service
        if terms and not agree_tos:
            raise errors.PolicyError(
                f"The CA asks you to agree to its terms of service ({terms}) before it opens"
                " an account.",
                hint="Read them, then add --agree-tos.",
            )
        reg = messages.NewRegistration.from_data(
            email=contact, terms_of_service_agreed=True if terms else None
        )
        with self._translate("the new account"):
            try:
                regr = self._client.new_account(reg)
                uri = str(regr.uri)
            except acme_errors.ConflictError as exc:  # the key has an account already
                uri = str(exc.location)
                self._net.account = messages.RegistrationResource(
                    uri=uri, body=messages.Registration()
                )
        write_atomic(
            info_file,
            json.dumps(
                {"uri": uri, "directory": self.directory_url, "contact": contact}, indent=2
            ).encode(),
            mode=0o600,
            overwrite=True,
        )
        return AcmeAccount(uri, self.directory_url, contact, key_file, True)

    def key_authorization(self, token: str) -> str:
        if self._key is None:
            raise AssertionError("account() first")
        return str(acme_challenges.HTTP01(token=_b64_token(token)).key_authorization(self._key))

    # -- orders --------------------------------------------------------------------------

    def new_order(
        self, csr_pem: bytes, profile: str | None = None, replaces: str | None = None
    ) -> AcmeOrder:
        csr = x509.load_pem_x509_csr(csr_pem)
        dns, ips = acme_crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
        identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n) for n in dns]
        identifiers += [messages.Identifier(typ=messages.IDENTIFIER_IP, value=str(i)) for i in ips]
        fields: dict[str, Any] = {"identifiers": identifiers}
        if profile:
            fields["profile"] = profile
        if replaces:
            fields["replaces"] = replaces
        body = _NewOrder(**fields)
        with self._translate("the new order"):
            try:
                resp = self._net.post(self._client.directory["newOrder"], body)
            except acme_errors.ConflictError:
                # The acme library makes every 409 a ConflictError and drops the problem
                # document; a newOrder's 409 is RFC 9773's alreadyReplaced (section 7.4).
                if not replaces:
                    raise
                raise errors.AlreadyReplaced(
                    "The CA says another order already replaces the certificate being renewed."
                ) from None
            return self._order(resp, resp.headers.get("Location"))

    def _order(self, resp: Any, url: str | None) -> AcmeOrder:
        body = messages.Order.from_json(resp.json())
        if not url:
            raise CAError("The ACME server did not say where the new order is (no Location).")
        error = body.error
        return AcmeOrder(
            url=url,
            status=str(body.status.name) if body.status else "pending",
            authorizations=tuple(str(a) for a in body.authorizations or ()),
            finalize=str(body.finalize),
            certificate=str(body.certificate) if body.certificate else None,
            error=_problem_text(error) if error is not None else None,
            retry_after=retry_after_seconds(resp.headers.get("Retry-After"), -1.0),
        )

    def order(self, url: str) -> AcmeOrder:
        resp = self._post_as_get(url, "the order")
        with self._translate("the order"):
            return self._order(resp, url)

    def authorization(self, url: str) -> AcmeAuthorization:
        resp = self._post_as_get(url, "the authorization")
        with self._translate("the authorization"):
            return self._authorization(resp.json(), url)

    @staticmethod
    def _authorization(doc: Mapping[str, Any], url: str) -> AcmeAuthorization:
        chals = []
        for c in doc.get("challenges") or ():
            err = c.get("error")
            chals.append(
                AcmeChallenge(
                    url=str(c["url"]),
                    type=str(c["type"]),
                    status=str(c.get("status", "pending")),
                    token=str(c["token"]) if c.get("token") else None,
                    error=_problem_text(err) if err else None,
                    error_type=str(err.get("type") or "") or None
                    if isinstance(err, Mapping)
                    else None,
                )
            )
        return AcmeAuthorization(
            url=url,
            identifier=str(doc["identifier"]["value"]),
            status=str(doc["status"]),
            wildcard=bool(doc.get("wildcard")),
            challenges=tuple(chals),
        )

    def answer(self, challenge: AcmeChallenge) -> None:
        """Tell the CA the response is in place (RFC 8555 section 7.5.1: the body is ``{}``;
        the acme package's response object serialises to exactly that)."""
        if challenge.token is None:
            raise CAError(f"The CA's challenge {challenge.url} has no token.")
        response = acme_challenges.HTTP01Response(
            key_authorization=self.key_authorization(challenge.token)
        )
        with self._translate("the challenge"):
            self._net.post(challenge.url, response)

    def wait_authorization(
        self, url: str, deadline: float, on_wait: Callable[[str], None] | None = None
    ) -> AcmeAuthorization:
        """Poll until the authorization is decided, honouring Retry-After, until ``deadline``
        (a ``clock`` value); returns the last state seen."""
        return self._poll(
            url,
            "the authorization",
            lambda resp: self._authorization(resp.json(), url),
            lambda a: a.status not in ("pending", "processing"),
            deadline,
            on_wait,
        )

    def finalize(self, order: AcmeOrder, csr_pem: bytes) -> AcmeOrder:
        body = messages.CertificateRequest(csr=x509.load_pem_x509_csr(csr_pem))
        with self._translate("the finalization"):
            resp = self._net.post(order.finalize, body)
            return self._order(resp, order.url)

    def wait_order(
        self,
        order: AcmeOrder,
        deadline: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> AcmeOrder:
        """Poll while the order is processing (or pending), honouring Retry-After."""
        return self._poll(
            order.url,
            "the order",
            lambda resp: self._order(resp, order.url),
            lambda o: o.status not in ("processing",),
            deadline,
            on_wait,
        )

    def _poll(
        self,
        url: str,
        what: str,
        parse: Callable[[Any], T],
        done: Callable[[T], bool],
        deadline: float,
        on_wait: Callable[[str], None] | None,
    ) -> T:
        delay = 1.0
        while True:
            resp = self._post_as_get(url, what)
            with self._translate(what):
                item = parse(resp)
            if done(item):
                return item
            wait = retry_after_seconds(resp.headers.get("Retry-After"), delay)
            remaining = deadline - self._clock()
            if remaining <= 0 or wait > remaining:
                return item  # the caller says what "still waiting" means
            if on_wait is not None:
                on_wait(f"the CA asks to come back in {wait:g} s")
            self._sleep(wait)
            delay = min(delay * 1.5, 10.0)

    def certificate(self, url: str) -> bytes:
        """The certificate chain (application/pem-certificate-chain), leaf first."""
        resp = self._post_as_get(url, "the certificate download")
        return bytes(resp.content)

    # -- renewal information (RFC 9773) --------------------------------------------------

    def renewal_info(self, cert: Any) -> RenewalWindow | None:
        """The CA's suggested window for renewing ``cert``; None when it offers none."""
        base = self.renewal_info_url
        if base is None:
            return None
        url = f"{base.rstrip('/')}/{cert_id(cert)}"
        with self._translate("the renewal information request"):
            resp = self._net.get(url, content_type="application/json")
            doc = resp.json()
            window = doc["suggestedWindow"]
            return RenewalWindow(
                start=_parse_time(window["start"]),
                end=_parse_time(window["end"]),
                retry_after=retry_after_seconds(
                    resp.headers.get("Retry-After"), 6 * 3600.0, cap=float("inf")
                ),
                explanation_url=doc.get("explanationURL"),
            )


def _b64_token(token: str) -> bytes:
    if not _TOKEN.fullmatch(token):
        raise CAError(f"The CA sent a challenge token padlock will not use ({token[:40]!r}).")
    return bytes(b64decode(token))


def _problem_text(err: Any) -> str:
    if isinstance(err, Mapping):
        detail = err.get("detail") or err.get("type") or "no detail"
        return str(detail)
    detail = getattr(err, "detail", None) or getattr(err, "typ", None) or str(err)
    return str(detail)


class _NewOrder(messages.NewOrder):
    """RFC 8555 newOrder with RFC 9773's ``replaces``."""

    replaces: str | None = jose_field("replaces", omitempty=True)


# --------------------------------------------------------------------------- answering


@dataclass
class Responder(abc.ABC):
    """Serves ``files`` (URL path -> body) for the CA's HTTP check while in ``serving``."""

    fetched: list[str] = field(default_factory=list)

    @abc.abstractmethod
    def serving(self, files: Mapping[str, bytes]) -> contextlib.AbstractContextManager[None]:
        """Webroot and Standalone say how the files reach the CA's check."""


def _check_paths(files: Mapping[str, bytes]) -> None:
    for path in files:
        ok = _PKI_VALIDATION_PATH.fullmatch(path) or (
            path.startswith(ACME_CHALLENGE_PATH)
            and _TOKEN.fullmatch(path[len(ACME_CHALLENGE_PATH) :])
        )
        if not ok:
            raise CAError(f"The CA asked for a file at an unexpected path ({path!r}).")


@dataclass
class Webroot(Responder):
    """Files under the web server's document root: ``ROOT/.well-known/...`` (0644), removed
    afterwards together with any directory made for them."""

    root: Path = Path()

    def __post_init__(self) -> None:
        if not self.root.is_dir():
            raise FileProblem(
                f"The web root {str(self.root)!r} is not a directory.",
                hint="Give the DocumentRoot (Apache) or root (nginx) of the site's :80 server.",
            )

    @contextlib.contextmanager
    def serving(self, files: Mapping[str, bytes]) -> Iterator[None]:
        _check_paths(files)
        made_dirs: list[Path] = []
        written: list[Path] = []
        try:
            for url_path, body in files.items():
                target = self.root / url_path.lstrip("/")
                missing = []
                parent = target.parent
                while not parent.exists() and parent != self.root:
                    missing.append(parent)
                    parent = parent.parent
                for directory in reversed(missing):
                    try:
                        directory.mkdir(mode=0o755)
                        os.chmod(directory, 0o755)  # noqa: S103 - the web server reads it, whatever the umask
                    except OSError as exc:
                        raise FileProblem(
                            f"Cannot make {str(directory)!r} in the web root: {exc.strerror}."
                        ) from exc
                    made_dirs.append(directory)
                write_atomic(target, body, mode=0o644, overwrite=True)
                written.append(target)
            yield
        finally:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            for directory in reversed(made_dirs):
                with contextlib.suppress(OSError):
                    directory.rmdir()


@dataclass
class Standalone(Responder):
    """A small HTTP listener of our own on ``address:port`` for the length of the check
    (the port the CA connects to: 80 on the Internet)."""

    port: int = 80
    address: str = "0.0.0.0"  # noqa: S104 - the CA connects from outside

    @contextlib.contextmanager
    def serving(self, files: Mapping[str, bytes]) -> Iterator[None]:
        _check_paths(files)
        served = dict(files)
        fetched = self.fetched

        class Handler(BaseHTTPRequestHandler):
            server_version = "padlock"
            sys_version = ""

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                body = served.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fetched.append(path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            server = ThreadingHTTPServer((self.address, self.port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {self.address}:{self.port} for the CA's check:"
                f" {exc.strerror or exc}.",
                hint="Is a web server using the port? Then answer through it with --webroot"
                " DIR instead of --standalone-port.",
            ) from exc
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="padlock-http01", daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def responder(webroot: Path | None, standalone_port: int | None, address: str) -> Responder:
    if webroot is not None and standalone_port is not None:
        raise ConfigError("Give --webroot or --standalone-port, not both.")
    if webroot is not None:
        return Webroot(root=webroot)
    if standalone_port is not None:
        if not 0 < standalone_port < 65536:
            raise ConfigError(f"{standalone_port} is not a port number.")
        return Standalone(port=standalone_port, address=address)
    raise ConfigError(
        "The CA checks that you control the names over HTTP, and padlock was not told how"
        " to answer.",
        hint="Give --webroot DIR (the document root of the site on port 80) or"
        " --standalone-port 80 (padlock listens itself; nothing else may use the port).",
    )


def pem_certificates(data: bytes, what: str) -> list[Any]:
    """Certificates in a PEM chain, or a CAError saying the CA sent something else."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CAError(f"The CA's {what} is not a PEM certificate chain ({exc}).") from exc
    return list(certs)


__all__ = [
    "AcmeAccount",
    "AcmeAuthorization",
    "AcmeChallenge",
    "AcmeClient",
    "AcmeOrder",
    "RenewalWindow",
    "Responder",
    "RestChallenge",
    "RestClient",
    "RestRequest",
    "Standalone",
    "Trust",
    "Webroot",
    "cert_id",
    "check_ca_url",
    "dns_failure",
    "error_from_problem",
    "responder",
    "retry_after_seconds",
    "unreachable",
]
