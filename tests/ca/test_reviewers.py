"""Reviewer accounts, passwords, sessions, CSRF tokens and login throttling (use cases + store)."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from padlock.ca.ports import Store
from padlock.ca.reviewers import (
    CSRFRefused,
    Forbidden,
    LoginFailed,
    LoginPolicy,
    LoginThrottled,
    Reviewers,
    token_hash,
)
from padlock.errors import Conflict, Malformed, NotFound, PolicyError
from padlock.store.review import SqlReviewerStore

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here on SQLite and on PostgreSQL: the store is half of what they test."""
    return any_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def people(store: Store, clock: Clock) -> Reviewers:
    return Reviewers(SqlReviewerStore(store), clock, hasher=CHEAP)


def _actions(store: Store) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.object_id) for e in store.iter_events()]


def test_add_reviewer_hashes_with_argon2id(people: Reviewers, store: Store) -> None:
    alice = people.add(
        "Alice", PASSWORD, "reviewer", display_name="Alice Liddell", email="alice@ca.example"
    )
    assert (alice.name, alice.display_name, alice.email, alice.role) == (
        "alice",
        "Alice Liddell",
        "alice@ca.example",
        "reviewer",
    )
    stored = SqlReviewerStore(store).get_reviewer("alice")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert _actions(store) == [("reviewer.added", "cli", "alice")]
    assert [r.name for r in people.accounts()] == ["alice"]


def test_add_reviewer_duplicate_refused(people: Reviewers) -> None:
    people.add("alice", PASSWORD)
    with pytest.raises(Conflict):
        people.add("ALICE", PASSWORD)


@pytest.mark.parametrize(
    ("name", "password", "role", "error"),
    [
        ("alice", "short", "reviewer", PolicyError),
        ("alice", "alice", "reviewer", PolicyError),
        ("alice", PASSWORD, "root", Malformed),
        ("al ice", PASSWORD, "reviewer", Malformed),
        ("", PASSWORD, "reviewer", Malformed),
        ("../etc", PASSWORD, "reviewer", Malformed),
    ],
)
def test_add_reviewer_invalid(
    people: Reviewers, name: str, password: str, role: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        people.add(name, password, role)
    assert people.accounts() == []


def test_add_reviewer_email_invalid(people: Reviewers) -> None:
    with pytest.raises(Malformed):
        people.add("alice", PASSWORD, email="not an email")


def test_login_makes_session_with_hashed_token(
    people: Reviewers, store: Store, clock: Clock
) -> None:
    people.add("alice", PASSWORD)
    new = people.login("alice", PASSWORD, client="127.0.0.1")
    assert len(new.token) >= 43  # 32 random bytes, base64url
    assert new.session.token_hash == token_hash(new.token)
    raw = SqlReviewerStore(store).get_session(token_hash(new.token))
    assert raw is not None and raw.token_hash != new.token
    session = people.session(new.token)
    assert session is not None and session.reviewer.name == "alice"
    assert session.csrf_token == new.session.csrf_token
    assert people.get("alice").last_login_at == T0
    assert ("reviewer.login", "reviewer:alice", "alice") in _actions(store)


def test_login_wrong_password_refused_and_audited(people: Reviewers, store: Store) -> None:
    people.add("alice", PASSWORD)
    with pytest.raises(LoginFailed) as info:
        people.login("alice", "wrong password!!")
    assert "name or the password is wrong" in info.value.message
    with pytest.raises(LoginFailed) as unknown:
        people.login("mallory", "wrong password!!")
    assert unknown.value.message == info.value.message  # no hint which names exist
    failed = [e for e in store.iter_events() if e.action == "reviewer.login_failed"]
    assert [(e.object_id, e.details["reason"]) for e in failed] == [
        ("alice", "wrong password"),
        ("mallory", "unknown name"),
    ]


def test_login_throttled_after_failures(people: Reviewers, clock: Clock) -> None:
    people.add("alice", PASSWORD)
    limit = people.policy.max_failures
    for _ in range(limit):
        with pytest.raises(LoginFailed):
            people.login("alice", "wrong password!!")
    # Locked now: even the right password is refused, and says when to come back.
    with pytest.raises(LoginThrottled) as info:
        people.login("alice", PASSWORD)
    assert info.value.retry_after == int(people.policy.lockout.total_seconds()) + 1
    assert info.value.problem_type.status == 429
    clock.advance(seconds=people.policy.lockout.total_seconds() + 1)
    assert people.login("alice", PASSWORD).session.reviewer.name == "alice"
    # A success clears the count.
    with pytest.raises(LoginFailed):
        people.login("alice", "wrong password!!")
    assert people.login("alice", PASSWORD)


def test_login_lockout_doubles(people: Reviewers, clock: Clock) -> None:
    people.add("alice", PASSWORD)
    policy = people.policy
    for _ in range(policy.max_failures):
        with pytest.raises(LoginFailed):
            people.login("alice", "wrong password!!")
    clock.advance(seconds=policy.lockout.total_seconds() + 1)
    with pytest.raises(LoginFailed) as info:
        people.login("alice", "still wrong!!!!")
    assert "paused for 10 minutes" in (info.value.hint or "")
    with pytest.raises(LoginThrottled):
        people.login("alice", PASSWORD)


def test_login_throttle_unknown_name_too(people: Reviewers) -> None:
    for _ in range(people.policy.max_failures):
        with pytest.raises(LoginFailed):
            people.login("nobody", "wrong password!!")
    with pytest.raises(LoginThrottled):
        people.login("nobody", "wrong password!!")


def test_login_failures_far_apart_do_not_lock(people: Reviewers, clock: Clock) -> None:
    people.add("alice", PASSWORD)
    for _ in range(people.policy.max_failures * 2):
        with pytest.raises(LoginFailed):
            people.login("alice", "wrong password!!")
        clock.advance(seconds=people.policy.window.total_seconds() + 1)
    assert people.login("alice", PASSWORD)


def test_policy_after_failure_caps_lockout() -> None:
    policy = LoginPolicy()
    throttle = None
    for _ in range(40):
        throttle = policy.after_failure(throttle, "x", T0)
    assert throttle is not None and throttle.locked_until == T0 + policy.max_lockout


def test_disabled_account_cannot_login_and_loses_sessions(people: Reviewers) -> None:
    people.add("admin", PASSWORD, "admin")
    people.add("alice", PASSWORD)
    token = people.login("alice", PASSWORD).token
    people.change("alice", actor="reviewer:admin", active=False)
    assert people.session(token) is None
    with pytest.raises(LoginFailed):
        people.login("alice", PASSWORD)


def test_new_password_ends_sessions(people: Reviewers) -> None:
    people.add("alice", PASSWORD)
    token = people.login("alice", PASSWORD).token
    people.change("alice", actor="cli", password="another long password")
    assert people.session(token) is None
    with pytest.raises(LoginFailed):
        people.login("alice", PASSWORD)
    assert people.login("alice", "another long password")


def test_admin_cannot_demote_self(people: Reviewers) -> None:
    people.add("admin", PASSWORD, "admin")
    with pytest.raises(PolicyError):
        people.change("admin", actor="reviewer:admin", role="reviewer")
    with pytest.raises(PolicyError):
        people.change("admin", actor="reviewer:admin", active=False)


def test_change_unknown_reviewer(people: Reviewers) -> None:
    with pytest.raises(NotFound):
        people.change("ghost", actor="cli", role="admin")


def test_session_expires(people: Reviewers, clock: Clock) -> None:
    people.add("alice", PASSWORD)
    token = people.login("alice", PASSWORD).token
    for _ in range(int(people.policy.session_lifetime / dt.timedelta(minutes=30))):
        clock.advance(minutes=30)
        people.session(token)  # active all the while
    assert people.session(token) is None


def test_session_idle_timeout(people: Reviewers, clock: Clock) -> None:
    people.add("alice", PASSWORD)
    token = people.login("alice", PASSWORD).token
    clock.advance(seconds=people.policy.idle_timeout.total_seconds() + 1)
    assert people.session(token) is None


def test_session_unknown_or_garbage_token(people: Reviewers) -> None:
    assert people.session(None) is None
    assert people.session("") is None
    assert people.session("x" * 5000) is None
    assert people.session("not-a-token") is None


def test_logout_ends_session(people: Reviewers, store: Store) -> None:
    people.add("alice", PASSWORD)
    new = people.login("alice", PASSWORD)
    people.logout(new.session)
    assert people.session(new.token) is None
    assert ("reviewer.logout", "reviewer:alice", "alice") in _actions(store)


def test_csrf_token_per_session(people: Reviewers) -> None:
    people.add("alice", PASSWORD)
    one = people.login("alice", PASSWORD).session
    two = people.login("alice", PASSWORD).session
    assert one.csrf_token != two.csrf_token
    Reviewers.check_csrf(one, one.csrf_token)
    for bad in (None, "", two.csrf_token, one.csrf_token + "x", "é"):
        with pytest.raises(CSRFRefused):
            Reviewers.check_csrf(one, bad)


def test_require_admin(people: Reviewers) -> None:
    people.add("alice", PASSWORD)
    people.add("root", PASSWORD, "admin")
    Reviewers.require_admin(people.login("root", PASSWORD).session)
    with pytest.raises(Forbidden):
        Reviewers.require_admin(people.login("alice", PASSWORD).session)


def test_weaker_hash_is_upgraded_on_login(store: Store, clock: Clock) -> None:
    Reviewers(SqlReviewerStore(store), clock, hasher=CHEAP).add("alice", PASSWORD)
    strong = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    Reviewers(SqlReviewerStore(store), clock, hasher=strong).login("alice", PASSWORD)
    stored = SqlReviewerStore(store).get_reviewer("alice")
    assert stored is not None and "m=16,t=2,p=1" in stored.password_hash


def test_audit_chain_intact_after_review_events(people: Reviewers, store: Store) -> None:
    people.add("alice", PASSWORD)
    with pytest.raises(LoginFailed):
        people.login("alice", "wrong password!!")
    people.logout(people.login("alice", PASSWORD).session)
    assert store.verify_audit().ok
