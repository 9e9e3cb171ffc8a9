"""The review console's people: reviewer accounts, passwords, sessions, CSRF, throttling.

The use cases (:class:`Reviewers`) and the storage they need
(:class:`~padlock.ca.ports.reviewers.ReviewerStore`, implemented in ``padlock.store.review``):

- accounts have a login name, a display name and email (shown to applicants as the
  seed's "contact person"), a role (``reviewer`` or ``admin``) and an argon2id
  password hash (argon2-cffi's defaults, RFC 9106's second recommended profile);
- a login makes a session: a random 256-bit token for the cookie, of which only the
  SHA-256 is stored, with an absolute expiry and an idle timeout; each session has its
  own CSRF token (a synchronizer token for every form of the console);
- failed logins are counted per login name in the database (every worker sees them);
  after ``max_failures`` in a row the name is locked for a while, doubling each time,
  and a right password is refused too while it is locked. Unknown names are counted
  and answered exactly like known ones, so the console does not tell which exist.
  Failures are counted per client address as well (a row ``@ADDRESS``), so one
  address trying many names is slowed too, after ``max_failures_per_address``.

Every change is an audit event, written in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from padlock.ca.audit import AuditEntry
from padlock.ca.ports.reviewers import (
    Reviewer,
    ReviewerStore,
    StoredReviewer,
    StoredSession,
    Throttle,
)
from padlock.errors import Conflict, Malformed, NotFound, PolicyError, RateLimited, Unauthorized

Clock = Callable[[], dt.datetime]

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """A valid, logged-in session."""

    reviewer: Reviewer
    token_hash: str
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class NewSession:
    """What a login returns: the raw token goes into the cookie and nowhere else."""

    token: str
    session: Session


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # failures in a row before the name is locked
    max_failures_per_address: int = 20  # failures from one address, whatever the names
    window: dt.timedelta = dt.timedelta(minutes=15)  # failures further apart start again
    lockout: dt.timedelta = dt.timedelta(minutes=5)  # first lock; doubles with each failure
    max_lockout: dt.timedelta = dt.timedelta(hours=1)
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)
    idle_timeout: dt.timedelta = dt.timedelta(hours=1)
    touch_every: dt.timedelta = dt.timedelta(minutes=1)

    def after_failure(
        self, previous: Throttle | None, login: str, at: dt.datetime, limit: int | None = None
    ) -> Throttle:
        """The throttle row after one more failure (pure; the store calls it in its tx);
        ``limit`` failures lock it (``max_failures`` if None)."""
        limit = self.max_failures if limit is None else limit
        failures = 1
        if previous is not None:
            locked = previous.locked_until is not None and previous.locked_until > at
            recent = at - previous.last_failure_at <= self.window
            if locked or recent:
                failures = previous.failures + 1
        locked_until = None
        if failures >= limit:
            doublings = min(failures - limit, 16)
            locked_until = at + min(self.lockout * (2**doublings), self.max_lockout)
        return Throttle(login, failures, at, locked_until)


# --- errors -----------------------------------------------------------------------------------


class LoginFailed(Unauthorized):
    """Wrong name or password (never says which)."""


class LoginThrottled(RateLimited):
    def __init__(self, message: str, hint: str | None, retry_after: int) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class CSRFRefused(Unauthorized):
    """A console POST without this session's CSRF token, or from another origin."""


class Forbidden(Unauthorized):
    """Logged in, but the role does not allow it."""


# --- use cases --------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def normalize_login(name: str) -> str:
    login = name.strip().lower()
    if not _LOGIN.match(login):
        raise Malformed(
            f"{name!r} is not a usable login name.",
            hint="Use 1-64 letters, digits, dots, hyphens or underscores, starting with a"
            " letter or digit.",
        )
    return login


def check_password_strength(password: str, login: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PolicyError(
            f"The password is too short ({len(password)} characters).",
            hint=f"Use at least {MIN_PASSWORD} characters; a few random words work well.",
        )
    if len(password) > MAX_PASSWORD:
        raise PolicyError(f"The password is longer than {MAX_PASSWORD} characters.")
    if password.strip().lower() == login:
        raise PolicyError("The password is the login name.", hint="Choose another one.")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise Malformed(f"There is no role {role!r}.", hint="Choose reviewer or admin.")
    return role


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    text = email.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text):
        raise Malformed(f"{email!r} is not an email address.")
    if len(text) > 254:
        raise Malformed("The email address is longer than 254 characters.")
    return text


class Reviewers:
    """Accounts, logins and sessions of the review console."""

    def __init__(
        self,
        store: ReviewerStore,
        clock: Clock = utcnow,
        policy: LoginPolicy | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy or LoginPolicy()
        self._hasher = hasher or _HASHER

    # -- accounts ------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        password: str,
        role: str = "reviewer",
        *,
        display_name: str | None = None,
        email: str | None = None,
        actor: str = "cli",
    ) -> Reviewer:
        login = normalize_login(name)
        _check_role(role)
        check_password_strength(password, login)
        now = self._clock()
        reviewer = Reviewer(
            name=login,
            display_name=(display_name or "").strip() or login,
            email=_check_email(email),
            role=role,
            active=True,
            created_at=now,
        )
        if len(reviewer.display_name) > 200:
            raise Malformed("The display name is longer than 200 characters.")
        if self._store.get_reviewer(login) is not None:
            raise Conflict(f"There is a reviewer {login!r} already.")
        event = AuditEntry(
            "reviewer.added",
            actor,
            "reviewer",
            login,
            {"role": role, "display_name": reviewer.display_name, "email": reviewer.email},
        )
        self._store.add_reviewer(StoredReviewer(reviewer, self._hasher.hash(password)), event, now)
        return reviewer

    def get(self, name: str) -> Reviewer:
        stored = self._store.get_reviewer(name.strip().lower())
        if stored is None:
            raise NotFound(f"There is no reviewer {name!r}.")
        return stored.reviewer

    def find(self, name: str) -> Reviewer | None:
        stored = self._store.get_reviewer(name.strip().lower())
        return stored.reviewer if stored else None

    def accounts(self) -> list[Reviewer]:
        return self._store.list_reviewers()

    def change(
        self,
        name: str,
        *,
        actor: str,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> Reviewer:
        """An admin's change to an account; disabling it or a new password ends its sessions."""
        current = self.get(name)
        if role is not None:
            _check_role(role)
        if actor == current.actor and (active is False or role == "reviewer"):
            raise PolicyError(
                "An admin cannot disable or demote their own account.",
                hint="Ask another admin, so that the console always keeps one.",
            )
        new_hash = None
        if password is not None:
            check_password_strength(password, current.name)
            new_hash = self._hasher.hash(password)
        details: dict[str, object] = {}
        if role is not None and role != current.role:
            details["role"] = role
        if active is not None and active != current.active:
            details["active"] = active
        if display_name is not None and display_name.strip() != current.display_name:
            details["display_name"] = display_name.strip()
        if email is not None:
            checked = _check_email(email)
            if checked != current.email:
                details["email"] = checked
        if new_hash is not None:
            details["password"] = "changed"  # noqa: S105 - a note, not a password
        if not details:
            return current
        return self._store.update_reviewer(
            current.name,
            AuditEntry("reviewer.changed", actor, "reviewer", current.name, details),
            self._clock(),
            role=role,
            active=active,
            password_hash=new_hash,
            display_name=display_name.strip() if display_name is not None else None,
            email=_check_email(email) if email is not None else None,
            end_sessions=active is False or new_hash is not None,
        )

    # -- logins --------------------------------------------------------------------------------

    def _throttled(self, login: str, now: dt.datetime, whose: str = "for this name") -> None:
        throttle = self._store.get_throttle(login)
        if throttle and throttle.locked_until and throttle.locked_until > now:
            wait = int((throttle.locked_until - now).total_seconds()) + 1
            raise LoginThrottled(
                f"Too many failed logins {whose}; logins are paused.",
                f"Try again in {_minutes(wait)}.",
                retry_after=wait,
            )

    def verify_password(self, name: str, password: str, client: str | None = None) -> Reviewer:
        """The account if the name and password are right; counts and audits a failure.

        Raises LoginThrottled while the name is locked (without checking the password),
        LoginFailed for a wrong name, a wrong password or a disabled account alike.
        """
        now = self._clock()
        try:
            login = normalize_login(name)
        except Malformed:
            login = ""
        throttle_key = login or "(invalid)"
        address_key = _address_key(client)
        self._throttled(throttle_key, now)
        if address_key is not None:
            self._throttled(address_key, now, "from your address")
        stored = self._store.get_reviewer(login) if login else None
        ok = False
        try:
            if stored is None:
                self._hasher.verify(_dummy_hash(), password)  # the same work as a real check
            else:
                ok = self._hasher.verify(stored.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or stored is None or not stored.reviewer.active:
            reason = (
                "unknown name"
                if stored is None
                else ("account disabled" if not stored.reviewer.active else "wrong password")
            )
            after = self._store.record_login_failure(
                throttle_key,
                now,
                lambda previous: self.policy.after_failure(previous, throttle_key, now),
                AuditEntry(
                    "reviewer.login_failed",
                    "anonymous",
                    "reviewer",
                    throttle_key,
                    {"reason": reason, "client": client},
                ),
            )
            if address_key is not None:
                self._count_address(address_key, client, now)
            hint = "Check the login name and the password."
            if after.locked_until is not None:
                hint = (
                    "Too many failed logins: logins for this name are paused for "
                    f"{_minutes(int((after.locked_until - now).total_seconds()))}."
                )
            raise LoginFailed("The login name or the password is wrong.", hint=hint)
        if self._hasher.check_needs_rehash(stored.password_hash):
            self._store.rehash_password(login, self._hasher.hash(password), now)
        return stored.reviewer

    def _count_address(self, key: str, client: str | None, now: dt.datetime) -> None:
        """One more failure from ``client``; its row is never cleared by a login, so a
        right password for one name does not reset the count of the names tried."""
        limit = self.policy.max_failures_per_address
        self._store.record_login_failure(
            key,
            now,
            lambda previous: self.policy.after_failure(previous, key, now, limit),
            AuditEntry("reviewer.login_failures_counted", "anonymous", "client", key, {}),
        )

    def login(self, name: str, password: str, client: str | None = None) -> NewSession:
        reviewer = self.verify_password(name, password, client)
        now = self._clock()
        token = secrets.token_urlsafe(32)  # 256 bits
        stored = StoredSession(
            token_hash=token_hash(token),
            reviewer=reviewer.name,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.policy.session_lifetime,
            client=(client or None) and client[:200],
        )
        self._store.create_session(
            stored,
            AuditEntry(
                "reviewer.login", reviewer.actor, "reviewer", reviewer.name, {"client": client}
            ),
            now,
        )
        session = Session(reviewer, stored.token_hash, stored.csrf_token, stored.expires_at)
        return NewSession(token, session)

    def session(self, token: str | None) -> Session | None:
        """The valid session the cookie's token opens, or None (expired, idle, disabled)."""
        if not token or len(token) > 200:
            return None
        digest = token_hash(token)
        stored = self._store.get_session(digest)
        if stored is None:
            return None
        now = self._clock()
        if stored.expires_at <= now or stored.last_seen_at + self.policy.idle_timeout <= now:
            self._store.delete_session(digest, None, now)
            return None
        account = self._store.get_reviewer(stored.reviewer)
        if account is None or not account.reviewer.active:
            return None
        if now - stored.last_seen_at >= self.policy.touch_every:
            self._store.touch_session(digest, now)
        return Session(account.reviewer, digest, stored.csrf_token, stored.expires_at)

    def logout(self, session: Session) -> None:
        self._store.delete_session(
            session.token_hash,
            AuditEntry(
                "reviewer.logout", session.reviewer.actor, "reviewer", session.reviewer.name
            ),
            self._clock(),
        )

    @staticmethod
    def check_csrf(session: Session, presented: str | None) -> None:
        """Refuse unless ``presented`` is this session's CSRF token (constant-time compare)."""
        if not presented or not hmac.compare_digest(
            session.csrf_token.encode(), presented.encode("utf-8", "surrogateescape")
        ):
            raise CSRFRefused(
                "The form's security token is missing or belongs to another session.",
                hint="Reload the page and submit the form again.",
            )

    @staticmethod
    def require_admin(session: Session) -> None:
        if not session.reviewer.is_admin:
            raise Forbidden(
                "Only an admin may do this.", hint="Ask an admin of the console to do it."
            )


def _address_key(client: str | None) -> str | None:
    """The throttle row of a client address ('@' cannot begin a login name)."""
    return f"@{client}"[:64] if client else None


def _minutes(seconds: int) -> str:
    if seconds < 90:
        return f"{max(seconds, 1)} seconds"
    return f"{round(seconds / 60)} minutes"


_HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106's second profile)
_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash of a random password: an unknown name costs the same work as a known one."""
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]
