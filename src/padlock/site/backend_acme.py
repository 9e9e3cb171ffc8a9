"""Any ACME directory (RFC 8555: padlock's, Let's Encrypt's) as a
:class:`~padlock.site.ca_backend.CaBackend`. :class:`AcmeClient` speaks the protocol
through certbot's ``acme`` package, the only module of padlock that imports it (every
exception of requests, ``acme`` and josepy is translated here, once); the account key lives
in a directory of its own (mode 0600) and polling honours ``Retry-After``.
:class:`AcmeBackend` takes an order through it: account, newOrder (with RFC 9773's
``replaces`` when renewing), http-01, finalize, download."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

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
from padlock import errors
from padlock.acme import challenges as acme_records
from padlock.acme import persist
from padlock.acme.jws import b64encode
from padlock.acme.messages import DNS_ACCOUNT_01, DNS_PERSIST_01, HTTP_01, Identifier
from padlock.errors import (
    AlreadyReplaced,
    CAError,
    ConfigError,
    Malformed,
    PadlockError,
    PolicyError,
    ValidationFailed,
)
from padlock.fileio import read_bytes, write_atomic
from padlock.pki import keys as pki_keys
from padlock.site.ca_backend import Advice, Issued, Record, Say, Ticket, dns_hint
from padlock.site.ca_http import (
    ACME_DIRECTORY_HINT,
    ACME_GONE_HINT,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Trust,
    check_ca_url,
    dns_failure,
    error_from_problem,
    parse_time,
    retry_after_seconds,
    unreachable,
)
from padlock.site.dns_hook import DnsHook
from padlock.site.lineage import Current, Pending, Settings, day
from padlock.site.responders import ACME_CHALLENGE_PATH, TOKEN, Responder

T = TypeVar("T")


@dataclass(frozen=True)
class AcmeChallenge:
    url: str
    type: str
    status: str
    token: str | None
    error: str | None
    error_type: str | None = None  # the problem's type, e.g. urn:ietf:params:acme:error:dns
    issuer_domain_names: tuple[str, ...] = ()  # dns-persist-01 (draft section 3.1)


@dataclass(frozen=True)
class AcmeAuthorization:
    url: str
    identifier: str
    status: str  # pending | valid | invalid | deactivated | expired | revoked
    wildcard: bool
    challenges: tuple[AcmeChallenge, ...]

    def http01(self) -> AcmeChallenge | None:
        return self.challenge(HTTP_01)

    def challenge(self, kind: str) -> AcmeChallenge | None:
        return next((c for c in self.challenges if c.type == kind), None)

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
    profile: str | None = None  # the profile the CA placed the order in (draft-ietf-acme-profiles)


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
            profile=body.profile if isinstance(body.profile, str) else None,
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
                    issuer_domain_names=tuple(
                        str(n) for n in c.get("issuerDomainNames") or () if isinstance(n, str)
                    )[: persist.MAX_ISSUER_NAMES],
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
        the acme package's response object serialises to exactly that, whatever the type)."""
        if challenge.token is None and challenge.type != DNS_PERSIST_01:
            raise CAError(f"The CA's challenge {challenge.url} has no token.")
        response = acme_challenges.HTTP01Response(key_authorization="")
        with self._translate("the challenge"):
            self._net.post(challenge.url, response)

    # -- DNS records ---------------------------------------------------------------------

    @property
    def account_uri(self) -> str:
        account = self._net.account
        if account is None or self._key is None:
            raise AssertionError("account() first")
        return str(account.uri)

    def dns_record(self, authz: AcmeAuthorization, kind: str) -> tuple[str, str]:
        """The TXT record (name, value) that answers ``kind`` for this authorization:
        dns-01 (RFC 8555 8.4), dns-account-01 (draft-ietf-acme-dns-account-label-02 3.1)
        or dns-persist-01 (draft-ietf-acme-dns-persist-02 4.1)."""
        identifier = Identifier("dns", authz.identifier)
        challenge = authz.challenge(kind)
        if challenge is None:
            raise ValidationFailed(
                f"The CA offers no {kind} check for {authz.identifier}.",
                hint="Choose another --challenge (the CA's authorization lists what it offers).",
            )
        if kind == DNS_PERSIST_01:
            issuers = challenge.issuer_domain_names
            return self.persist_record(authz.identifier, issuers, wildcard=authz.wildcard)
        if challenge.token is None:
            raise CAError(f"The CA's challenge {challenge.url} has no token.")
        value = acme_records.dns01_value(self.key_authorization(challenge.token))
        if kind == DNS_ACCOUNT_01:
            return acme_records.dns_account_name(identifier, self.account_uri), value
        return acme_records.dns01_name(identifier), value

    def persist_record(
        self,
        name: str,
        issuers: tuple[str, ...] = (),
        *,
        wildcard: bool = False,
        until: int | None = None,
    ) -> tuple[str, str]:
        """The dns-persist-01 record for ``name``: the CA's first issuer domain name and this
        account's hashed URI under the directory's accountHashPrefix (draft sections 3.2,
        4.1, 4.5), with policy=wildcard and persistUntil when asked."""
        meta = self._directory_meta()
        prefix = meta.get("accountHashPrefix")
        issuers = issuers or tuple(meta.get("issuerDomainNames") or ())
        if not isinstance(prefix, str) or not prefix or not issuers:
            raise CAError(
                f"The ACME directory {self.directory_url} does not offer dns-persist-01 (its"
                " meta has no issuerDomainNames and accountHashPrefix).",
            )
        thumb = b64encode(self._key.thumbprint())
        uri = persist.hashed_account_uri(prefix, name, thumb, self.account_uri)
        value = persist.record_value(str(issuers[0]), uri, wildcard=wildcard, until=until)
        return persist.persist_name(name), value

    def _directory_meta(self) -> dict[str, Any]:
        """The directory's meta object as sent (the acme package keeps only the fields it
        knows, and dns-persist-01's are new)."""
        with self._translate("the directory request"):
            resp = self._net.get(self.directory_url)
            doc = resp.json()
        meta = doc.get("meta") if isinstance(doc, Mapping) else None
        return dict(meta) if isinstance(meta, Mapping) else {}

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
                start=parse_time(window["start"]),
                end=parse_time(window["end"]),
                retry_after=retry_after_seconds(
                    resp.headers.get("Retry-After"), 6 * 3600.0, cap=float("inf")
                ),
                explanation_url=doc.get("explanationURL"),
            )


def _b64_token(token: str) -> bytes:
    if not TOKEN.fullmatch(token):
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


# --------------------------------------------------------------------------- the backend


class AcmeBackend:
    """An order at an ACME directory: placed (again, when the one in flight failed), its
    names proven by http-01, finalized, downloaded; a refused order is forgotten, the key
    and CSR kept for the next one."""

    def __init__(
        self,
        settings: Settings,
        account_dir: Path,
        *,
        record: Record,
        say: Say,
        agree_tos: bool = False,
    ) -> None:
        assert settings.acme is not None
        self.settings = settings
        self.directory = settings.acme
        self.account_dir = account_dir
        self.record = record
        self.say = say
        self.agree_tos = agree_tos
        self._client: AcmeClient | None = None
        self._csr = b""

    @property
    def acme(self) -> AcmeClient:
        if self._client is None:
            self._client = AcmeClient(self.directory, self.account_dir, trust=self.settings.trust())
        return self._client

    def close(self) -> None:
        return None  # requests' session closes with the client

    def renews(self, pending: Pending, previous: Current) -> Pending:
        """RFC 9773 section 5: the new order names the certificate it replaces."""
        with contextlib.suppress(PadlockError, ValueError, x509.ExtensionNotFound):
            cert = x509.load_pem_x509_certificate(
                read_bytes(Path(previous.files["cert"]), "certificate")
            )
            return replace(pending, replaces=cert_id(cert))
        return pending

    def forget(self, pending: Pending) -> Pending | None:
        return replace(pending, order_url=None, state="new")

    def submit(self, pending: Pending) -> Ticket[AcmeOrder]:
        account = self.acme.account(self.settings.contact, self.agree_tos)
        if account.created:
            self.say(f"Opened an ACME account at {self.directory}")
        self._csr = read_bytes(Path(pending.csr_file), "CSR")
        order: AcmeOrder | None = None
        if pending.order_url:
            order = self.acme.order(pending.order_url)
            if order.status == "invalid":
                self.say(f"The earlier order failed ({order.error}); placing a new one")
                order = None
        if order is None:
            order = self._new_order(pending.replaces)
            self.record(
                order_url=order.url,
                account_url=account.uri,
                state=order.status,
                profile=order.profile,
            )
        return Ticket("prove" if order.status == "pending" else "done", order)

    def _new_order(self, replaces: str | None) -> AcmeOrder:
        profile = self._profile()
        self.say(f"Placing an order for {', '.join(self.settings.names)} at {self.directory}")
        try:
            return self.acme.new_order(self._csr, profile, replaces)
        except (Malformed, AlreadyReplaced):
            if not replaces:
                raise
            # 'replaces' refused, or another order replaced it (RFC 9773 7.4)
            return self.acme.new_order(self._csr, profile, None)

    def _profile(self) -> str | None:
        s = self.settings
        if s.profile:
            return s.profile
        offered = self.acme.profiles
        if s.kind is None or s.kind in offered:
            return s.kind
        if s.kind == "dv":
            return None  # the directory's default
        listed = ", ".join(offered) or "none"
        raise PolicyError(
            f"This ACME directory offers no {s.kind} profile (it offers: {listed}).",
            hint="padlock's test certificates are at /acme/test/directory; or leave out"
            f" --{s.kind}.",
        )

    def _waiting(self, message: str) -> None:
        self.say(f"Waiting: {message}")

    def prove(
        self, ticket: Ticket[AcmeOrder], answer: Responder, deadline: float
    ) -> Ticket[AcmeOrder]:
        """The chosen check (``--challenge``, http-01 by default) for every authorization
        still pending."""
        order = ticket.view
        todo: list[AcmeAuthorization] = []
        for url in order.authorizations:
            authz = self.acme.authorization(url)
            if authz.status == "valid":
                continue
            if authz.status != "pending":
                refused = ValidationFailed(
                    f"The CA's authorization for {authz.identifier} is {authz.status}"
                    + (f": {authz.error}" if authz.error else ".")
                )
                return Ticket("refused", order, refused=refused)
            todo.append(authz)
        if todo:
            kind = self.settings.challenge
            if kind == HTTP_01:
                failed = self._prove_http(todo, answer, deadline)
            else:
                failed = self._prove_dns(todo, kind, deadline)
            if failed is not None:
                return Ticket("refused", order, refused=failed)
        order = self.acme.order(order.url)
        return Ticket("done", order)

    def _prove_http(
        self, todo: list[AcmeAuthorization], answer: Responder, deadline: float
    ) -> ValidationFailed | None:
        """http-01 (RFC 8555 section 8.3): the files served while the CA looks."""
        files: dict[str, bytes] = {}
        for authz in todo:
            challenge = authz.http01()
            if challenge is None or challenge.token is None:
                raise ValidationFailed(
                    f"The CA offers no HTTP check (http-01) for {authz.identifier}.",
                    hint="A wildcard is proven in DNS: --challenge dns-01 (or dns-account-01,"
                    " dns-persist-01) with --dns-hook.",
                )
            path = ACME_CHALLENGE_PATH + challenge.token
            files[path] = self.acme.key_authorization(challenge.token).encode()
        how = answer.describe()
        self.say(f"Answering the CA's HTTP check for {len(todo)} name(s) with {how}")
        hint = f"Check that http://{{name}}/.well-known/acme-challenge/ is served by {how}"
        with answer.serving(files):
            return self._answer(todo, HTTP_01, deadline, hint + " on port 80")

    def _prove_dns(
        self, todo: list[AcmeAuthorization], kind: str, deadline: float
    ) -> ValidationFailed | None:
        """dns-01, dns-account-01 (records added by the hook for this order, removed after)
        or dns-persist-01 (the record set once: added by the hook if there is one, else it
        must be published already; never removed)."""
        s = self.settings
        self.acme.account(s.contact, self.agree_tos)
        hook = DnsHook(s.dns_hook) if s.dns_hook else None
        wild = {a.identifier for a in todo if a.wildcard}
        records: dict[str, str] = {}
        for authz in todo:
            if kind == DNS_PERSIST_01 and authz.identifier in wild:
                authz = replace(authz, wildcard=True)  # one record serves name and *.name
            name, value = self.acme.dns_record(authz, kind)
            records.setdefault(name, value)
        added: list[tuple[str, str]] = []
        try:
            for name, value in records.items():
                if hook is None:
                    self.say(f"Using the TXT record {name} (published already): {value}")
                    continue
                self.say(f"Adding the TXT record {name} with the DNS hook")
                hook.add(name, value)
                added.append((name, value))
            hint = f"Check that the TXT record for {{name}} ({kind}) is published in DNS"
            return self._answer(todo, kind, deadline, hint)
        finally:
            if hook is not None and kind != DNS_PERSIST_01:
                for name, value in added:
                    with contextlib.suppress(PadlockError):
                        hook.remove(name, value)

    def _answer(
        self, todo: list[AcmeAuthorization], kind: str, deadline: float, hint: str
    ) -> ValidationFailed | None:
        """Tell the CA each response is in place, then wait for every authorization."""
        for authz in todo:
            challenge = authz.challenge(kind)
            assert challenge is not None
            self.say(f"Asking the CA to check {authz.identifier} ({kind})")
            self.acme.answer(challenge)
        s = self.settings
        for authz in todo:
            done = self.acme.wait_authorization(authz.url, deadline, self._waiting)
            if done.status == "valid":
                self.say(f"{done.identifier}: proven")
                continue
            if done.status in ("pending", "processing"):
                raise CAError(
                    f"The CA was still checking {done.identifier} after {s.wait:g} seconds.",
                    hint=f"Run padlock obtain --resume {s.name} to keep waiting.",
                )
            why = hint.format(name=done.identifier)
            why += f", then run padlock obtain --resume {s.name}."
            if kind == HTTP_01 and dns_failure(done.error, done.error_type):
                why = dns_hint([done.identifier], s.name)
            return ValidationFailed(
                f"The CA could not confirm that you control {done.identifier}:"
                f" {(done.error or done.status).rstrip('.')}.",
                hint=why,
            )
        return None

    def wait(self, ticket: Ticket[AcmeOrder], deadline: float) -> Ticket[AcmeOrder]:
        """Finalize a ready order, then poll while it is processing (an ov order waits for
        a reviewer)."""
        order = ticket.view
        if order.status == "ready":
            self.say("Every name is proven; sending the CSR (finalize)")
            order = self.acme.finalize(order, self._csr)
        if order.status == "processing":
            order = self.acme.wait_order(order, deadline, self._waiting)
        if order.status == "processing":
            self.record(state="processing")
            message = (
                "The CA is still processing the order (an ov order waits for a reviewer)."
                f" Run padlock obtain --resume {self.settings.name} later."
            )
            return Ticket("working", order, message=message)
        if order.status == "invalid":
            refused = CAError(f"The CA refused the order: {order.error or 'no reason given'}")
            return Ticket("refused", order, refused=refused)
        return Ticket("done", order)

    def chain(self, ticket: Ticket[AcmeOrder]) -> Issued:
        order = ticket.view
        if order.status != "valid" or not order.certificate:
            raise CAError(f"The order is {order.status}; padlock expected it valid.")
        self.record(state="issued")
        self.say("Downloading the certificate and its chain")
        chain = self.acme.certificate(order.certificate)
        return Issued(chain, order_url=order.url, certificate_url=order.certificate)

    def advice(
        self,
        current: Current,
        now: dt.datetime,
        wake_interval: dt.timedelta,
        rng: random.Random | None,
    ) -> Advice:
        """RFC 9773 section 4.2: due when a uniform random time in the CA's window comes
        before the next run (``wake_interval`` from now)."""
        try:
            cert = x509.load_pem_x509_certificate(
                read_bytes(Path(current.files["cert"]), "certificate file")
            )
            window = self.acme.renewal_info(cert)
        except (PadlockError, ValueError, x509.ExtensionNotFound) as exc:
            return Advice(None, f" (no renewal information: {getattr(exc, 'message', exc)})")
        if window is None:
            return Advice(None)
        pick = window.start + (window.end - window.start) * (rng or random).random()
        if pick <= now + wake_interval:
            return Advice(True, f"in the CA's renewal window (from {day(window.start)})")
        return Advice(False, f"the CA's renewal window opens {day(window.start)}")


__all__ = [
    "AcmeAccount",
    "AcmeAuthorization",
    "AcmeBackend",
    "AcmeChallenge",
    "AcmeClient",
    "AcmeOrder",
    "RenewalWindow",
    "cert_id",
]
