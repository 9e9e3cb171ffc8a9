"""The one error tree of padlock, and the one table of problem types.

Every error padlock raises on purpose is a :class:`PadlockError`. Each class names
a *problem type*; the table :data:`PROBLEMS` binds that type to its URN, its title
and its HTTP status, once, so that the CLI, the REST API (RFC 7807/9457 problem
documents) and the ACME server (RFC 8555 section 6.7) cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

ACME_URN = "urn:ietf:params:acme:error:"
PADLOCK_URN = "urn:padlock:error:"


@dataclass(frozen=True)
class ProblemType:
    """A kind of failure as every front end names it."""

    code: str
    urn: str
    title: str
    status: int


def _acme(code: str, title: str, status: int) -> ProblemType:
    return ProblemType(code, ACME_URN + code, title, status)


def _ours(code: str, title: str, status: int) -> ProblemType:
    return ProblemType(code, PADLOCK_URN + code, title, status)


# RFC 8555 section 6.7 for the ACME types, with alreadyReplaced (RFC 9773 section 7.4) and
# invalidProfile (draft-ietf-acme-profiles).
PROBLEMS: dict[str, ProblemType] = {
    p.code: p
    for p in (
        _acme("accountDoesNotExist", "The account does not exist", 400),
        _acme("alreadyRevoked", "The certificate is already revoked", 400),
        _acme("alreadyReplaced", "The certificate was already replaced", 409),  # RFC 9773 7.4
        _acme("badCSR", "The CSR is unacceptable", 400),
        _acme("badNonce", "The nonce is unacceptable", 400),
        _acme("badPublicKey", "The public key is unacceptable", 400),
        _acme("badRevocationReason", "The revocation reason is not allowed", 400),
        _acme("badSignatureAlgorithm", "The JWS signature algorithm is not supported", 400),
        _acme("caa", "A CAA record forbids issuance", 403),
        _acme("compound", "Several problems occurred", 403),
        _acme("connection", "The server could not connect to the validation target", 400),
        _acme("dns", "There was a problem with a DNS query", 400),
        _acme("externalAccountRequired", "An external account binding is required", 400),
        _acme("incorrectResponse", "The challenge response was wrong", 403),
        _acme("invalidContact", "The contact URL is invalid", 400),
        _acme("invalidProfile", "The profile is not offered", 400),  # draft-ietf-acme-profiles
        _acme("malformed", "The request message was malformed", 400),
        _acme("orderNotReady", "The order is not ready to be finalized", 403),
        _acme("rateLimited", "The request exceeds a rate limit", 429),
        _acme("rejectedIdentifier", "The server will not issue for the identifier", 400),
        _acme("serverInternal", "The server experienced an internal error", 500),
        _acme("tls", "The server received a TLS error during validation", 400),
        _acme("unauthorized", "The client lacks sufficient authorization", 403),
        _acme("unsupportedContact", "The contact URL scheme is not supported", 400),
        _acme("unsupportedIdentifier", "The identifier type is not supported", 400),
        _acme("userActionRequired", "Visit the instance URL and take the actions it names", 403),
        _ours("invalidName", "The name is not a valid host name", 400),
        _ours("weakKey", "The key is too weak or known to be compromised", 400),
        _ours("unsupportedKey", "The key type is not supported", 400),
        _ours("badPassphrase", "The pass phrase is wrong or missing", 400),
        _ours("unrecognizedFile", "The file holds nothing padlock recognises", 400),
        _ours("wrongFileKind", "The file holds another kind of object", 400),
        _ours("fileExists", "The output file exists already", 409),
        _ours("fileError", "The file could not be read or written", 400),
        _ours("mismatch", "The files do not share one public key", 409),
        _ours("notFound", "No such object", 404),
        _ours("conflict", "The object is in a state that does not allow this", 409),
        _ours("policy", "The request is against the CA's policy", 400),
        _ours("lint", "The certificate failed pre-issuance linting", 500),
        _ours("config", "The configuration is wrong", 500),
        _ours("storage", "The database failed", 503),
        _ours("validationFailed", "Domain control could not be confirmed", 403),
        _ours("payloadTooLarge", "The request body is too large", 413),
        _ours("siteUnreachable", "The site could not be reached over TLS", 502),
        _ours("installRefused", "The installation was refused before any change", 400),
        _ours("installFailed", "The web server change failed", 500),
        _ours("unsupportedMediaType", "The content type is not accepted here", 415),
        _ours("caUnreachable", "The certificate authority could not be reached", 502),
        _ours("caError", "The certificate authority refused or failed the request", 502),
    )
}


@dataclass(frozen=True)
class Subproblem:
    """A problem about one identifier (RFC 8555 section 6.7.1)."""

    problem: str
    detail: str
    identifier: dict[str, str] | None = None


@dataclass(eq=False)
class PadlockError(Exception):
    """Base of every error padlock raises on purpose.

    ``message`` says what is wrong in one sentence; ``hint`` says what to do.
    """

    message: str
    hint: str | None = None
    subproblems: Sequence[Subproblem] = field(default_factory=tuple)
    problem: ClassVar[str] = "serverInternal"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def problem_type(self) -> ProblemType:
        return PROBLEMS[self.problem]

    def to_problem(self, **extra: Any) -> dict[str, Any]:
        """An RFC 7807 problem document."""
        ptype = self.problem_type
        doc: dict[str, Any] = {
            "type": ptype.urn,
            "title": ptype.title,
            "status": ptype.status,
            "detail": self.message if not self.hint else f"{self.message} {self.hint}",
        }
        if self.subproblems:
            doc["subproblems"] = [
                {
                    "type": PROBLEMS[s.problem].urn,
                    "detail": s.detail,
                    **({"identifier": s.identifier} if s.identifier else {}),
                }
                for s in self.subproblems
            ]
        doc.update(extra)
        return doc


class InvalidName(PadlockError):
    problem = "invalidName"


class WeakKey(PadlockError):
    problem = "weakKey"


class UnsupportedKey(PadlockError):
    problem = "unsupportedKey"


class BadPassphrase(PadlockError):
    problem = "badPassphrase"


class UnrecognizedFile(PadlockError):
    problem = "unrecognizedFile"


class WrongFileKind(PadlockError):
    problem = "wrongFileKind"


class OutputExists(PadlockError):
    problem = "fileExists"


class FileProblem(PadlockError):
    problem = "fileError"


class KeyMismatch(PadlockError):
    problem = "mismatch"


class BadCSR(PadlockError):
    problem = "badCSR"


class PolicyError(PadlockError):
    problem = "policy"


class RejectedIdentifier(PadlockError):
    problem = "rejectedIdentifier"


class LintFailed(PadlockError):
    problem = "lint"


class NotFound(PadlockError):
    problem = "notFound"


class Conflict(PadlockError):
    problem = "conflict"


class ConfigError(PadlockError):
    problem = "config"


class StorageError(PadlockError):
    """A database failure. The message names the database for the operator (the CLI, the
    server's log); an HTTP answer says only that the database is unavailable, never its URL,
    host or user, with the incident id the server logged it under and ``Retry-After``."""

    problem = "storage"
    retry_after: ClassVar[int] = 5  # seconds: a restarting database is usually back by then
    incident: str | None = None  # set where store/ translates the failure and logs it

    def to_problem(self, **extra: Any) -> dict[str, Any]:
        doc = super().to_problem(**extra)
        logged = f" (incident {self.incident} in the server's log)" if self.incident else ""
        doc["detail"] = f"The database is unavailable{logged}; try again in a few seconds."
        return doc


class Malformed(PadlockError):
    problem = "malformed"


class Unauthorized(PadlockError):
    problem = "unauthorized"


class ValidationFailed(PadlockError):
    problem = "validationFailed"


class CAAForbidden(PadlockError):
    problem = "caa"


class PayloadTooLarge(PadlockError):
    problem = "payloadTooLarge"


class AlreadyRevoked(PadlockError):
    problem = "alreadyRevoked"


class BadRevocationReason(PadlockError):
    problem = "badRevocationReason"


class RateLimited(PadlockError):
    problem = "rateLimited"


class SiteUnreachable(PadlockError):
    """No TLS session with the site: refused, timed out, name unknown, handshake failed."""

    problem = "siteUnreachable"


class InstallRefused(PadlockError):
    """A pre-flight check failed; the web server's files were not touched."""

    problem = "installRefused"


class InstallFailed(PadlockError):
    """A step of a web server change failed after files were written; the message says what
    failed and whether every file was restored."""

    problem = "installFailed"


class UnsupportedMediaType(PadlockError):
    """A body or an uploaded file of a type this endpoint does not take (judged by content)."""

    problem = "unsupportedMediaType"


# --- ACME (RFC 8555 section 6.7): the types the ACME server raises by name -------------------


class BadNonce(PadlockError):
    problem = "badNonce"


class BadSignatureAlgorithm(PadlockError):
    problem = "badSignatureAlgorithm"


class BadPublicKey(PadlockError):
    problem = "badPublicKey"


class AccountDoesNotExist(PadlockError):
    problem = "accountDoesNotExist"


class OrderNotReady(PadlockError):
    problem = "orderNotReady"


class ExternalAccountRequired(PadlockError):
    problem = "externalAccountRequired"


class InvalidContact(PadlockError):
    problem = "invalidContact"


class UnsupportedContact(PadlockError):
    problem = "unsupportedContact"


class UnsupportedIdentifier(PadlockError):
    problem = "unsupportedIdentifier"


class UserActionRequired(PadlockError):
    problem = "userActionRequired"


class AlreadyReplaced(PadlockError):
    """RFC 9773 section 7.4: clients retry without ``replaces`` when they see it."""

    problem = "alreadyReplaced"


class InvalidProfile(PadlockError):
    """draft-ietf-acme-profiles: a newOrder naming a profile the directory does not offer."""

    problem = "invalidProfile"


# --- the site owner's client of a CA (padlock obtain / renew) --------------------------------


class CAUnreachable(PadlockError):
    """No answer from the CA: connection refused or reset, a timeout, a name that does not
    resolve, or an HTTPS certificate that does not verify."""

    problem = "caUnreachable"


class CAError(PadlockError):
    """The CA answered, but with an error no more precise class names (its own words are in
    the message), or with something that is not a CA's answer at all."""

    problem = "caError"
