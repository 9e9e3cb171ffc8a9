"""Ids on the command line: new request ids never begin with "-", and every command that
takes an id takes any id, the older base64url ones that begin with "-" included (issue 14
section 3); one end to end run of ``padlock review reject -ID``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.ca.enrollment.checks import id_text, new_request_id, valid_request_id
from padlock.ca.enrollment.model import EnrollmentRequest, Event, Kind, RequestState
from padlock.cli import dash_ids, main
from tests.ca.conftest import build_csr
from tests.conftest import Result

CA_ENV = {"PADLOCK_CA_PASSPHRASE": "id test pass phrase"}


def _old_id(data: bytes) -> str:
    """A request id as padlock made them before: base64url of 24 random bytes."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


NEW_IDS = st.binary(min_size=24, max_size=24).map(id_text)
OLD_IDS = st.binary(min_size=24, max_size=24).map(_old_id)
DASH_IDS = OLD_IDS.map(lambda text: "-" + text[1:])  # one old id in 64 looked like this
ANY_ID = st.one_of(NEW_IDS, OLD_IDS, DASH_IDS)

# Each command that takes an id: its path, the parameter the id lands in, the options it
# needs besides, and whether the id is an option's value (--resume ID).
ID_COMMANDS: list[tuple[tuple[str, ...], str, tuple[str, ...], str | None]] = [
    (("review", "reject"), "request_id", ("--reason", "No documents."), None),
    (("review", "approve"), "request_id", ("--org", "Widgets", "--country", "US"), None),
    (("ca", "show"), "serial", ("--json",), None),
    (("revoke",), "target", ("--reason", "keyCompromise"), None),
    (("obtain",), "resume", ("--json",), "--resume"),
]


def _leaf(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(main.app)
    dash_ids.accept_dash_ids(command)
    for name in path:
        command = command.commands[name]
    return command


LEAVES = {path: _leaf(path) for path, *_rest in ID_COMMANDS}


def _parsed(path: tuple[str, ...], args: list[str]) -> dict[str, Any]:
    ctx = LEAVES[path].make_context(path[-1], list(args))
    return dict(ctx.params)


@given(data=st.binary(min_size=24, max_size=24))
@settings(max_examples=500)
def test_id_text_new_request_ids_never_begin_with_a_dash(data: bytes) -> None:
    text = id_text(data)
    assert not text.startswith("-") and "-" not in text and "_" not in text
    assert valid_request_id(text) and len(text) == 39
    # All 192 bits are kept: the text decodes back to the bytes.
    assert base64.b32decode(text.upper() + "=" * (-len(text) % 8)) == data


def test_new_request_id_is_random_and_valid() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_request_id(i) and i[0].isalnum() for i in ids)


@given(request_id=ANY_ID, where=st.sampled_from(["first", "last", "after --"]))
@settings(max_examples=300, deadline=None)
def test_ids_as_arguments_every_id_command_takes_any_id(request_id: str, where: str) -> None:
    assert valid_request_id(request_id)  # old ids stay valid request ids
    for path, param, others, option in ID_COMMANDS:
        given_id = [option, request_id] if option else [request_id]
        if where == "first":
            args = [*given_id, *others]
        elif where == "last" or option:
            args = [*others, *given_id]
        else:
            args = [*others, "--", request_id]
        assert _parsed(path, args)[param] == request_id, (path, args)


def test_ids_as_arguments_keeps_options_and_their_values() -> None:
    dash = "-_gaab" + "x" * 26
    params = LEAVES[("review", "reject")].params
    # An option's value that begins with "-" stays its value; "--" keeps its meaning.
    assert dash_ids.ids_as_arguments(params, ["--reason", dash]) == ["--reason", dash]
    assert dash_ids.ids_as_arguments(params, [dash, "--reason=-x", "--json"]) == [
        "--reason=-x",
        "--json",
        "--",
        dash,
    ]
    assert dash_ids.ids_as_arguments(params, ["--", dash]) == ["--", dash]
    # A short option's attached value is not taken for an id (ca issue -oFILE).
    issue = _leaf(("ca", "issue"))
    attached = "-o" + "a" * 40
    assert dash_ids.ids_as_arguments(issue.params, [attached, "x.csr"]) == [attached, "x.csr"]


def test_ids_as_arguments_mistyped_option_still_reported(
    cli: Callable[..., Result],
) -> None:
    res = cli("review", "reject", "--reasn", "x", "abc")
    assert res.rc == 2 and "No such option: --reasn" in res.err


# --------------------------------------------------------------------------- end to end


def _request_with_dash_id(data_dir: Path, request_id: str) -> None:
    """An ov request stored under an old-style id, as a CA made before this change has."""
    from padlock import config, wiring
    from padlock.pki.csr import load_csr
    from padlock.pki.keys import fingerprint
    from padlock.store import SqlStore
    from padlock.store.enrollment import SqlEnrollmentStore

    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    settings_ = config.from_env(env).with_overrides(data_dir=data_dir)
    store = wiring.open_store(settings_)
    try:
        assert isinstance(store, SqlStore)
        csr = build_csr(["www.example.com"])
        now = dt.datetime.now(dt.UTC)
        request = EnrollmentRequest(
            id=request_id,
            kind=Kind.DV,
            state=RequestState.SUBMITTED,
            contact="owner@example.com",
            names=("www.example.com",),
            csr_pem=csr.decode(),
            key_fingerprint=fingerprint(load_csr(csr).public_key()),  # type: ignore[arg-type]
            created_at=now,
            updated_at=now,
        )
        SqlEnrollmentStore(store).create_request(
            request,
            [Event("submitted", "test", RequestState.SUBMITTED, "for www.example.com")],
            now,
        )
    finally:
        store.close()


def test_review_reject_an_id_beginning_with_a_dash(
    padlock_proc: Callable[..., Result], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {**CA_ENV, "PADLOCK_DATABASE_URL": ""}
    res = padlock_proc(
        "ca", "init", "--data-dir", data, "--name", "Ids", "--base-url", "http://ca.example.com",
        env=env,
    )  # fmt: skip
    assert res.rc == 0, res.err
    request_id = "-_gaab" + _old_id(os.urandom(24))[6:]
    _request_with_dash_id(data, request_id)
    res = padlock_proc(
        "review", "reject", request_id, "--reason", "No documents.", "--data-dir", data, "--json",
        env=env,
    )  # fmt: skip
    assert res.rc == 0, res.err
    answer = json.loads(res.out)
    assert answer["id"] == request_id and answer["state"] == "rejected"
    assert answer["rejection_reason"] == "No documents."
    # A second time the request is closed: a clear refusal about the request, not the parser.
    res = padlock_proc(
        "review", "reject", "--reason", "again", "--data-dir", data, "--", request_id, env=env
    )
    assert res.rc == 1 and "rejected" in res.err and "No such option" not in res.err
