"""The perspective's use case: only the CA's fresh, unseen requests for this perspective
are answered, and the answer is signed by the perspective and names the request."""

from __future__ import annotations

import datetime as dt

import pytest

from padlock.ca.mpic.perspective import Replayed
from padlock.ca.mpic.signing import BadSignature, RequestKey, digest, unseal
from padlock.errors import Malformed
from tests.ca.mpic.conftest import Fleet, now


def _request(fleet: Fleet, **changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "v": 1,
        "perspective": "fra",
        "nonce": "n" * 24,
        "at": now().isoformat(),
        "checks": [{"method": "dns-01", "params": {"name": "a.test", "qname":
                   "_acme-challenge.a.test", "expected": "value"}}],
    }  # fmt: skip
    payload.update(changes)
    return payload


def test_perspective_answers_signed_evidence(fleet: Fleet) -> None:
    fleet.zones["fra"].add_txt("_acme-challenge.a.test", "value")
    message = fleet.ca_key.seal(_request(fleet))
    answer = fleet.perspectives["fra"].answer(message)
    payload, _sent = unseal(answer, fleet.configs[0].key, "answer")
    assert payload["perspective"] == "fra"
    assert payload["request"] == digest(message["payload"])
    (result,) = payload["results"]
    assert result["ok"] is True and result["evidence"]["txt"] == ["value"]


def test_perspective_failed_check_is_evidence(fleet: Fleet) -> None:
    answer = fleet.perspectives["fra"].answer(fleet.ca_key.seal(_request(fleet)))
    payload, _sent = unseal(answer, fleet.configs[0].key, "answer")
    (result,) = payload["results"]
    assert result["ok"] is False and result["problem"] == "incorrectResponse"
    assert "No TXT record" in result["detail"]


def test_perspective_refuses_request_not_signed_by_ca(fleet: Fleet) -> None:
    stranger, _pem = RequestKey.generate()
    with pytest.raises(BadSignature):
        fleet.perspectives["fra"].answer(stranger.seal(_request(fleet)))


def test_perspective_refuses_replay(fleet: Fleet) -> None:
    message = fleet.ca_key.seal(_request(fleet))
    fleet.perspectives["fra"].answer(message)
    with pytest.raises(Replayed, match="answered before"):
        fleet.perspectives["fra"].answer(message)


def test_perspective_refuses_request_for_another(fleet: Fleet) -> None:
    with pytest.raises(Replayed, match="is for 'iad'"):
        fleet.perspectives["fra"].answer(fleet.ca_key.seal(_request(fleet, perspective="iad")))


def test_perspective_refuses_stale_request(fleet: Fleet) -> None:
    old = (now() - dt.timedelta(minutes=5)).isoformat()
    with pytest.raises(Replayed, match="time"):
        fleet.perspectives["fra"].answer(fleet.ca_key.seal(_request(fleet, at=old)))


@pytest.mark.parametrize(
    "change",
    [{"checks": []}, {"checks": "x"}, {"nonce": "short"}, {"at": "yesterday"}, {"checks": [1]}],
)
def test_perspective_refuses_malformed(fleet: Fleet, change: dict[str, object]) -> None:
    with pytest.raises(Malformed):
        fleet.perspectives["fra"].answer(fleet.ca_key.seal(_request(fleet, **change)))


def test_perspective_unknown_method_is_a_failed_result(fleet: Fleet) -> None:
    checks = [{"method": "carrier-pigeon-01", "params": {}}]
    answer = fleet.perspectives["fra"].answer(fleet.ca_key.seal(_request(fleet, checks=checks)))
    payload, _sent = unseal(answer, fleet.configs[0].key, "answer")
    assert payload["results"][0]["ok"] is False
    assert "no check 'carrier-pigeon-01'" in payload["results"][0]["detail"]
