"""padlock's enrollment REST API (``/api/v1``, see :mod:`padlock.web.rest_api`) as a
:class:`~padlock.site.ca_backend.CaBackend`: :class:`RestClient` speaks it over httpx
(every httpx failure and problem document translated here, once), :class:`RestBackend`
takes a request through it (submit a CSR, run the domain checks, wait for the reviewer of
an ov request, fetch the certificate)."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from padlock.errors import CAError, PadlockError, PolicyError, ValidationFailed
from padlock.fileio import read_bytes
from padlock.site.ca_backend import Advice, Issued, Record, Say, Ticket, dns_hint
from padlock.site.ca_http import (
    CA_URL_HINT,
    DEFAULT_TIMEOUT,
    REQUEST_ID_HINT,
    USER_AGENT,
    Trust,
    check_ca_url,
    dns_failure,
    error_from_problem,
    parse_time,
    retry_after_seconds,
    unreachable,
)
from padlock.site.lineage import Current, Pending, Settings
from padlock.site.responders import PKI_VALIDATION_PATH, Responder

_RETRIES = 3  # for 429/503 answers with a Retry-After we can afford


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
        if not PKI_VALIDATION_PATH.fullmatch(path):
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
                    not_before=parse_time(cert["not_before"]),
                    not_after=parse_time(cert["not_after"]),
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


# --------------------------------------------------------------------------- the backend


class RestBackend:
    """A request through padlock's REST API: submitted, its names proven over HTTP, reviewed
    (ov), issued; a rejected request is forgotten (the next run makes a new key)."""

    def __init__(
        self, settings: Settings, *, record: Record, say: Say, client: RestClient | None = None
    ) -> None:
        assert settings.ca is not None
        self.settings = settings
        self.record = record
        self.say = say
        self._client = client

    @property
    def api(self) -> RestClient:
        if self._client is None:
            self._client = RestClient(str(self.settings.ca), trust=self.settings.trust())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def renews(self, pending: Pending, previous: Current) -> Pending:
        """A dv or ov renewal names the request it renews: the CA reuses its proven names."""
        if self.settings.kind in ("dv", "ov"):
            return replace(pending, previous_request=previous.request_id)
        return pending

    def forget(self, pending: Pending) -> Pending | None:
        return None

    def _ticket(self, req: RestRequest) -> Ticket[RestRequest]:
        if req.state == "rejected":
            reason = req.rejection_reason or req.problem or "no reason given"
            refused = PolicyError(
                f"The CA rejected request {req.id}: {reason}",
                hint="Fix what it says, then run padlock obtain again (a new request).",
            )
            return Ticket("refused", req, refused=refused)
        if req.state in ("submitted", "validating"):
            return Ticket("prove", req)
        return Ticket("done", req)  # wait() sees a review; chain() checks it issued

    def submit(self, pending: Pending) -> Ticket[RestRequest]:
        s = self.settings
        if pending.request_id is None:
            article = "an" if s.kind == "ov" else "a"
            self.say(f"Sending the CSR to {s.ca} ({article} {s.kind} certificate)")
            req = self.api.submit(
                read_bytes(Path(pending.csr_file), "CSR").decode(),
                str(s.kind),
                str(s.contact),
                s.organization,
                previous_request=pending.previous_request,
            )
            self.record(request_id=req.id, status_url=req.status_url, state=req.state)
            self.say(f"Request {req.id}: {req.state.replace('_', ' ')} ({req.status_url})")
        else:
            req = self.api.get(pending.request_id)
        ticket = self._ticket(req)
        sending = s.documents and not pending.documents_sent and req.state != "issued"
        if ticket.status != "refused" and sending:
            for doc in s.documents:
                self.say(f"Uploading {Path(doc).name} for the reviewer")
                self.api.upload_document(req.id, Path(doc))
            self.record(documents_sent=True)
        return ticket

    def prove(
        self, ticket: Ticket[RestRequest], answer: Responder, deadline: float
    ) -> Ticket[RestRequest]:
        """Serve every pending name's token, then ask the CA to check (synchronously)."""
        req = ticket.view
        files: dict[str, bytes] = {}
        for ch in (c for c in req.challenges if c.state != "valid"):
            path = ch.http_path
            if path is None:
                raise ValidationFailed(
                    f"{ch.name} can be proven only by DNS: publish a TXT record"
                    f" {ch.dns_record} with the value {ch.token}.",
                    hint=f"Then run padlock obtain --resume {req.id}.",
                )
            files[path] = ch.token.encode()
        if files:
            how = answer.describe()
            self.say(f"Answering the CA's HTTP check for {len(files)} name(s) with {how}")
            with answer.serving(files):
                self.say("Asking the CA to check now")
                req = self.api.validate(req.id)
        else:
            req = self.api.validate(req.id)
        self.record(state=req.state)
        if req.state in ("submitted", "validating"):
            raise self._not_proven(req, answer)
        self.say(f"Every name is proven; request {req.id} is {req.state.replace('_', ' ')}")
        return Ticket("done", req)

    def _not_proven(self, req: RestRequest, answer: Responder) -> ValidationFailed:
        unproven = [c for c in req.challenges if c.state != "valid"]
        failed = [f"{c.name}: {c.error}" for c in unproven]
        no_dns = [c.name for c in unproven if dns_failure(c.error)]
        hint = (
            dns_hint(no_dns, req.id)
            if no_dns
            else "Check that http://NAME/.well-known/pki-validation/ is served from "
            + answer.describe()
            + f" on port 80, then run padlock obtain --resume {req.id}."
        )
        return ValidationFailed(
            "The CA could not confirm that you control "
            + "; ".join(failed or ["every name"]).rstrip(".")
            + ".",
            hint=hint,
        )

    def wait(self, ticket: Ticket[RestRequest], deadline: float) -> Ticket[RestRequest]:
        """Nothing to poll: a review takes a person's time, so an ov request in review
        waits for ``padlock obtain --resume``."""
        req = ticket.view
        if req.state != "in_review":
            return ticket
        self.record(state="in_review")
        return Ticket(
            "working",
            req,
            message=(
                f"Waiting for review: every name is proven and a reviewer at the CA now"
                f" checks the organization. Follow it at {req.status_url}; once it is"
                f" approved, run: padlock obtain --resume {req.id}"
            ),
        )

    def chain(self, ticket: Ticket[RestRequest]) -> Issued:
        req = ticket.view
        if req.state != "issued":
            raise CAError(f"Request {req.id} is {req.state}; padlock expected it issued.")
        self.record(state="issued")
        self.say("Fetching the certificate and its chain")
        return Issued(self.api.certificate_chain(req.id), request_id=req.id)

    def advice(
        self,
        current: Current,
        now: dt.datetime,
        wake_interval: dt.timedelta,
        rng: random.Random | None,
    ) -> Advice:
        """Due when the CA reports the certificate revoked; otherwise it says nothing."""
        if not current.request_id:
            return Advice(None)
        try:
            req = self.api.get(current.request_id)
        except PadlockError as exc:
            return Advice(None, f" (could not ask the CA: {exc.message})")
        if req.certificate is not None and req.certificate.state == "revoked":
            return Advice(True, "the CA reports it revoked")
        return Advice(None)


__all__ = ["RestBackend", "RestCertificate", "RestChallenge", "RestClient", "RestRequest"]
