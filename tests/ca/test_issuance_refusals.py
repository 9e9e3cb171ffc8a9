"""Refusals that are the CA's fault, not the applicant's: said clearly, logged, nothing left.

A CA whose PKI base URL is https cannot put it in AIA/CRL DP (BR 7.1.2.7.7, 7.1.2.11.2): the
trusted profiles are refused before anything is reserved, with the command that repairs it.
A pre-issuance lint refusal names its findings to the client and is logged on the server with
the serial and the request id, and the reservation is abandoned, never left pending.
"""

from __future__ import annotations

import logging

import pytest

from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
from padlock.ca.ports import Store
from padlock.ca.signer import Signer
from padlock.errors import ConfigError, LintFailed
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from tests.ca.conftest import build_csr


def _issuer(store: Store, signers: dict[Hierarchy, Signer], pki_base_url: str) -> Issuer:
    return Issuer(store, signers, IssuancePolicy(base_url=pki_base_url), builtin_blocklist())


@pytest.mark.parametrize("profile", ["dv", "ov", "short-lived"])
def test_issuer_https_pki_url_refuses_trusted_profiles_before_reserving(
    store: Store, signers: dict[Hierarchy, Signer], profile: str
) -> None:
    issuer = _issuer(store, signers, "https://ca.example.com")
    request = IssueRequest(build_csr(), profile, domain_control_shown=True, request_id="r-1")
    with pytest.raises(ConfigError) as raised:
        issuer.issue(request)
    assert "only http://" in raised.value.message
    assert "padlock ca set-pki-url" in (raised.value.hint or "")
    assert store.list_certificates() == []


def test_issuer_https_pki_url_still_issues_test_certificates(
    store: Store, signers: dict[Hierarchy, Signer]
) -> None:
    issuer = _issuer(store, signers, "https://ca.example.com")
    issued = issuer.issue(IssueRequest(build_csr(), "test"))
    assert issued.record.state == "issued"


def test_issuer_lint_refusal_is_logged_with_serial_and_request_id(
    store: Store, signers: dict[Hierarchy, Signer], caplog: pytest.LogCaptureFixture
) -> None:
    issuer = _issuer(store, signers, "http://ca.example.com/a b")  # a space: not a URI
    request = IssueRequest(build_csr(), "dv", domain_control_shown=True, request_id="order-7")
    with (
        caplog.at_level(logging.ERROR, logger="padlock.issuance"),
        pytest.raises(LintFailed) as raised,
    ):
        issuer.issue(request)
    assert raised.value.problem_type.urn == "urn:padlock:error:lint"
    assert "invalid_uri_syntax" in raised.value.message  # the finding is named
    [record] = [r for r in caplog.records if r.name == "padlock.issuance"]
    [abandoned] = store.list_certificates()
    assert abandoned.state == "abandoned"
    text = record.getMessage()
    assert abandoned.serial_hex in text and "order-7" in text and "invalid_uri_syntax" in text
