"""The one table of problem types, and the error tree bound to it."""

from __future__ import annotations

import re

import pytest

from padlock import errors
from padlock.errors import ACME_URN, PADLOCK_URN, PROBLEMS, PadlockError, Subproblem

# RFC 8555 section 6.7, the registry of ACME error types.
RFC8555_TYPES = {
    "accountDoesNotExist",
    "alreadyRevoked",
    "badCSR",
    "badNonce",
    "badPublicKey",
    "badRevocationReason",
    "badSignatureAlgorithm",
    "caa",
    "compound",
    "connection",
    "dns",
    "externalAccountRequired",
    "incorrectResponse",
    "invalidContact",
    "malformed",
    "orderNotReady",
    "rateLimited",
    "rejectedIdentifier",
    "serverInternal",
    "tls",
    "unauthorized",
    "unsupportedContact",
    "unsupportedIdentifier",
    "userActionRequired",
}


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


ERROR_CLASSES = [c for c in _all_subclasses(PadlockError) if c.__module__ == errors.__name__]


def test_problems_key_is_code() -> None:
    for code, ptype in PROBLEMS.items():
        assert ptype.code == code


def test_problems_urns_unique() -> None:
    urns = [p.urn for p in PROBLEMS.values()]
    assert len(urns) == len(set(urns))


def test_problems_titles_unique_and_nonempty() -> None:
    titles = [p.title for p in PROBLEMS.values()]
    assert all(t.strip() for t in titles)
    assert len(titles) == len(set(titles))


def test_problems_status_is_client_or_server_error() -> None:
    for ptype in PROBLEMS.values():
        assert 400 <= ptype.status <= 599, ptype


def test_problems_acme_types_use_acme_prefix() -> None:
    for code in RFC8555_TYPES:
        assert PROBLEMS[code].urn == ACME_URN + code


# Registered in the ACME error namespace after RFC 8555: RFC 9773 section 7.4 and
# draft-ietf-acme-profiles (the ACME Error Types registry).
LATER_ACME_TYPES = {"alreadyReplaced", "invalidProfile"}


def test_problems_acme_prefix_only_for_registered_types() -> None:
    for ptype in PROBLEMS.values():
        if ptype.urn.startswith(ACME_URN):
            assert ptype.code in RFC8555_TYPES | LATER_ACME_TYPES, ptype
        else:
            assert ptype.urn == PADLOCK_URN + ptype.code, ptype


def test_problems_urns_are_urns() -> None:
    for ptype in PROBLEMS.values():
        assert re.fullmatch(r"urn:[a-z]+(:[a-z]+)*:error:[A-Za-z]+", ptype.urn), ptype.urn


def test_problems_server_internal_is_500() -> None:
    assert PROBLEMS["serverInternal"].status == 500


def test_error_classes_exist() -> None:
    assert len(ERROR_CLASSES) >= 10


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_class_problem_in_table(cls: type[PadlockError]) -> None:
    assert cls.problem in PROBLEMS
    assert cls("x").problem_type is PROBLEMS[cls.problem]


def test_error_classes_problem_distinct() -> None:
    problems = [c.problem for c in ERROR_CLASSES]
    assert len(problems) == len(set(problems))


def test_error_base_is_server_internal() -> None:
    assert PadlockError("boom").problem_type.status == 500


def test_error_str_is_message() -> None:
    exc = errors.InvalidName("'a b' contains a space.", hint="Remove it.")
    assert str(exc) == "'a b' contains a space."
    assert exc.args == ("'a b' contains a space.",)
    assert exc.hint == "Remove it."


def test_error_is_exception_and_catchable_as_base() -> None:
    with pytest.raises(PadlockError) as info:
        raise errors.WeakKey("too small")
    assert isinstance(info.value, errors.WeakKey)


def test_to_problem_document() -> None:
    doc = errors.BadCSR("The CSR is bad.", hint="Make a new one.").to_problem(instance="/x")
    assert doc == {
        "type": "urn:ietf:params:acme:error:badCSR",
        "title": PROBLEMS["badCSR"].title,
        "status": 400,
        "detail": "The CSR is bad. Make a new one.",
        "instance": "/x",
    }


def test_to_problem_without_hint() -> None:
    assert errors.NotFound("No such order.").to_problem()["detail"] == "No such order."


def test_to_problem_subproblems() -> None:
    exc = errors.RejectedIdentifier(
        "Some names are refused.",
        subproblems=(
            Subproblem("rejectedIdentifier", "a public suffix", {"type": "dns", "value": "co.uk"}),
            Subproblem("caa", "CAA forbids it"),
        ),
    )
    doc = exc.to_problem()
    assert doc["subproblems"] == [
        {
            "type": ACME_URN + "rejectedIdentifier",
            "detail": "a public suffix",
            "identifier": {"type": "dns", "value": "co.uk"},
        },
        {"type": ACME_URN + "caa", "detail": "CAA forbids it"},
    ]


def test_to_problem_statuses_of_site_owner_errors() -> None:
    assert errors.OutputExists("x").to_problem()["status"] == 409
    assert errors.KeyMismatch("x").to_problem()["status"] == 409
    assert errors.InvalidName("x").to_problem()["status"] == 400
    assert errors.RateLimited("x").to_problem()["status"] == 429
