"""``padlock review`` as the installed console script, in a real process: the login URL it
prints is the CA's own, and the queue printed into a pipe keeps every id whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result
from tests.web.conftest import make_csr, start_padlock_server

Run = Callable[..., Result]
CA_ENV = {"PADLOCK_CA_PASSPHRASE": "review cli ca pass phrase", "PADLOCK_BASE_URL": ""}
CA_URL = "https://ca.example.net:8443"


def _ca(padlock_proc: Run, data: Path, base_url: str = CA_URL) -> None:
    made = padlock_proc(
        "ca", "init", "--data-dir", data, "--name", "Widgets", "--base-url", base_url,
        env=CA_ENV,
    )  # fmt: skip
    assert made.rc == 0, made.err


def test_add_user_login_url_is_the_cas_own(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _ca(padlock_proc, data)
    (tmp_path / "pw").write_text("correct horse battery staple\n")
    added = padlock_proc(
        "review", "add-user", "alice", "--password-file", "pw", "--data-dir", data, env=CA_ENV
    )
    assert added.rc == 0, added.err
    assert f"Log in at {CA_URL}/review/login" in added.err
    assert "127.0.0.1:8080" not in added.err
    # PADLOCK_BASE_URL, as serve is given it, wins over what the CA was made with.
    moved = padlock_proc(
        "review", "add-user", "bob", "--password-file", "pw", "--data-dir", data,
        env={**CA_ENV, "PADLOCK_BASE_URL": "https://review.example.net/"},
    )  # fmt: skip
    assert moved.rc == 0, moved.err
    assert "Log in at https://review.example.net/review/login" in moved.err


def test_list_into_a_pipe_keeps_ids_whole(padlock_proc: Run, tmp_path: Path) -> None:
    """Requests with long names in the queue; ``review list`` writes into a pipe (the
    subprocess's stdout), where no terminal width may cut an id."""
    (tmp_path / "ca").mkdir()
    server = start_padlock_server(tmp_path / "ca")
    try:
        ids = []
        with server.client() as http:
            for n in range(3):
                name = f"a-rather-long-host-name-number-{n}.department.example.com"
                resp = http.post(
                    "/api/v1/requests",
                    json={"csr": make_csr([name])[1], "kind": "dv", "contact": "a@example.com"},
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["id"])
        listed = padlock_proc(
            "review", "list", "--state", "submitted", "--data-dir", server.data_dir,
            env={"PADLOCK_DATABASE_URL": ""},
        )  # fmt: skip
    finally:
        server.stop()
    assert listed.rc == 0, listed.err
    for request_id in ids:
        assert request_id in listed.out, listed.out
    assert "…" not in listed.out  # nothing cut short anywhere
