"""The REST/portal methods under multi-perspective corroboration (BR 3.2.2.9): the TXT
record and CAA checked by five perspectives, each with its own DNS view; the corroboration
kept as a validation record (method "mpic") and in the audit log; two dissents refuse."""

from __future__ import annotations

from pathlib import Path

from padlock.ca.enrollment.model import EnrollmentRequest, RequestState
from padlock.ca.enrollment.service import EnrollmentService
from padlock.ca.issuance import Issuer
from padlock.ca.ports import Store
from padlock.ca.validation import VAConfig
from padlock.store.certificates import SqlStore
from padlock.store.enrollment import SqlEnrollmentStore
from tests.ca.conftest import CSRMaker
from tests.ca.mpic.conftest import IDENTITY, Fleet
from tests.support.dnsserver import TestDNS


def _service(
    store: Store, issuer: Issuer, dns: TestDNS, fleet: Fleet, tmp: Path
) -> EnrollmentService:
    assert isinstance(store, SqlStore)
    cfg = VAConfig(resolver=dns.address, timeout=2, caa_identities=(IDENTITY,))
    return EnrollmentService(
        SqlEnrollmentStore(store), store, issuer, cfg, documents_dir=tmp / "documents",
        base_url="https://ca.example.com/", corroborator=fleet.corroborator(),
    )  # fmt: skip


def _publish(
    primary: TestDNS, fleet: Fleet, record: str, token: str, *, hide: tuple[str, ...]
) -> None:
    """The TXT record in the primary's view and in every perspective's but ``hide``'s."""
    primary.zone.add_txt(record, token)
    for name, zone in fleet.zones.items():
        if name not in hide:
            zone.add_txt(record, token)


def _validated(
    store: Store, issuer: Issuer, fleet: Fleet, make_csr: CSRMaker, tmp: Path, hide: tuple[str, ...]
) -> EnrollmentRequest:
    """A dv request for shop.example.com whose TXT record ``hide``'s views do not see."""
    primary = TestDNS().start()
    try:
        svc = _service(store, issuer, primary, fleet, tmp)
        req = svc.submit(make_csr(["shop.example.com"]), "dv", "owner@example.com")
        ch = req.challenges[0]
        _publish(primary, fleet, ch.dns_record, ch.token, hide=hide)
        return svc.validate(req.id)
    finally:
        primary.stop()


def test_mpic_enrollment_dns_one_dissent_issued_and_audited(
    store: Store, issuer: Issuer, fleet: Fleet, make_csr: CSRMaker, tmp_path: Path
) -> None:
    done = _validated(store, issuer, fleet, make_csr, tmp_path, ("gru",))
    assert done.state is RequestState.ISSUED
    mpic = [v for v in done.validations if v.method == "mpic"]
    assert len(mpic) == 2  # the TXT check, then CAA right before issuance
    assert all(v.ok for v in mpic)
    assert mpic[0].evidence["dissenting"] == ["gru"] and mpic[1].evidence["dissenting"] == []
    assert isinstance(store, SqlStore)
    checked = [e for e in store.iter_events() if e.action == "request.checked"]
    assert checked[-1].details["corroboration"][0]["dissenting"] == ["gru"]


def test_mpic_enrollment_dns_two_dissents_not_proven(
    store: Store, issuer: Issuer, fleet: Fleet, make_csr: CSRMaker, tmp_path: Path
) -> None:
    done = _validated(store, issuer, fleet, make_csr, tmp_path, ("gru", "jnb"))
    assert done.state is RequestState.VALIDATING and done.certificate_serial is None
    error = done.challenges[0].error or ""
    assert "Multi-perspective corroboration refused issuance" in error
    assert "gru (LACNIC)" in error and "jnb (AFRINIC)" in error
    (record,) = [v for v in done.validations if v.method == "mpic"]
    assert not record.ok and sorted(record.evidence["dissenting"]) == ["gru", "jnb"]


def test_mpic_enrollment_review_page_lists_perspectives(
    store: Store, issuer: Issuer, fleet: Fleet, make_csr: CSRMaker, tmp_path: Path
) -> None:
    """The review console's request page (its template, as the console renders it) shows
    each perspective's answer, the dissent with what it saw."""
    from padlock.web.pages import environment

    done = _validated(store, issuer, fleet, make_csr, tmp_path, ("gru",))
    html = (
        environment()
        .get_template("review_request.html")
        .render(
            req=done,
            csr={"error": "not shown here"},
            org=None,
            can_approve=False,
            is_open=False,
            done=None,
            path=f"/review/requests/{done.id}",
            ca_name="padlock",
            session=None,
            csrf=None,
            flash=None,
            me=None,
        )
    )
    assert '<table class="perspectives">' in html
    assert "<code>fra</code></td><td>RIPE NCC</td><td>agrees" in html
    assert "<code>gru</code></td><td>LACNIC</td><td>dissents: No TXT record" in html
