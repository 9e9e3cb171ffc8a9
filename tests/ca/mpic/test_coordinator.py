"""The coordinator over five perspectives, each with its own DNS view: quorum, dissent kept,
refusals that name the perspectives, a perspective down, a forged answer."""

from __future__ import annotations

import pytest

from padlock.ca.mpic.coordinator import CheckSpec, NotCorroborated
from padlock.ca.mpic.signing import unseal
from tests.ca.mpic.conftest import IDENTITY, Fleet

NAME = "shop.test"
CAA = CheckSpec("caa", {"name": NAME, "identities": [IDENTITY], "method": "dns-01"})


def _primary() -> str:
    return "primary ok"


def _hijack(fleet: Fleet, name: str) -> None:
    """This perspective's DNS view says another CA may issue (an attacker's answer)."""
    fleet.zones[name].add_caa(NAME, "issue", "attacker.example")


def test_coordinator_all_agree(fleet: Fleet) -> None:
    corroborator = fleet.corroborator()
    result, record = corroborator.corroborate([CAA], _primary)
    assert result == "primary ok"
    assert record["ok"] is True and record["dissenting"] == []
    assert len(record["perspectives"]) == 5
    # every perspective's evidence is kept signed, and opens with its configured key
    for config, seen in zip(fleet.configs, record["perspectives"], strict=True):
        payload, _sent = unseal(seen["signed"], config.key, "evidence")
        assert payload["perspective"] == config.name == seen["name"]


def test_coordinator_one_dissent_recorded(fleet: Fleet) -> None:
    _hijack(fleet, "sin")
    _result, record = fleet.corroborator().corroborate([CAA], _primary)
    assert record["ok"] is True and record["dissenting"] == ["sin"]
    (sin,) = [p for p in record["perspectives"] if p["name"] == "sin"]
    assert sin["ok"] is False and "attacker.example" in sin["detail"]


def test_coordinator_two_dissents_refused_naming_them(fleet: Fleet) -> None:
    _hijack(fleet, "sin")
    _hijack(fleet, "gru")
    with pytest.raises(NotCorroborated) as caught:
        fleet.corroborator().corroborate([CAA], _primary)
    message = caught.value.message
    assert "2 of 5 remote perspectives did not corroborate" in message
    assert "sin (APNIC)" in message and "gru (LACNIC)" in message
    assert "fra" not in message
    assert set(caught.value.record["dissenting"]) == {"sin", "gru"}


def test_coordinator_perspective_down_counts_as_failure(fleet: Fleet) -> None:
    fleet.down("jnb")
    _result, record = fleet.corroborator().corroborate([CAA], _primary)
    assert record["dissenting"] == ["jnb"]
    _hijack(fleet, "iad")
    with pytest.raises(NotCorroborated, match="connection refused"):
        fleet.corroborator().corroborate([CAA], _primary)


def test_coordinator_forged_answer_refused(fleet: Fleet) -> None:
    fleet.forge("fra")
    with pytest.raises(NotCorroborated) as caught:
        fleet.corroborator().corroborate([CAA], _primary)
    assert "not signed by its perspective's key" in caught.value.message
    assert "fra (RIPE NCC)" in caught.value.message


def test_coordinator_primary_failure_raised_as_is(fleet: Fleet) -> None:
    def primary() -> str:
        raise ValueError("primary says no")

    with pytest.raises(ValueError, match="primary says no"):
        fleet.corroborator().corroborate([CAA], primary)


def test_coordinator_request_is_the_checks_asked(fleet: Fleet) -> None:
    fleet.zones["fra"].add_txt("_acme-challenge.shop.test", "tok")
    dns01 = CheckSpec(
        "dns-01", {"name": NAME, "qname": "_acme-challenge.shop.test", "expected": "tok"}
    )
    with pytest.raises(NotCorroborated) as caught:
        fleet.corroborator().corroborate([CAA, dns01], _primary)
    record = caught.value.record
    assert record["corroborating"] == ["fra"]
    (fra,) = [p for p in record["perspectives"] if p["name"] == "fra"]
    assert [r["method"] for r in fra["results"]] == ["caa", "dns-01"]
