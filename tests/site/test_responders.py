"""``padlock.site.responders``: the two ways of answering the CA's HTTP check."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import httpx
import pytest
from tests.support.ports import free_port

from padlock.errors import (
    CAError,
    ConfigError,
)
from padlock.site import responders
from padlock.site.responders import ACME_CHALLENGE_PATH, Standalone, Webroot

# --------------------------------------------------------------------------- answering


def test_webroot_serves_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("hi\n")
    path = "/.well-known/pki-validation/abcDEF_123-x.txt"
    with Webroot(root=root).serving({path: b"abcDEF_123-x"}):
        served = root / path.lstrip("/")
        assert served.read_bytes() == b"abcDEF_123-x"
        assert stat.S_IMODE(served.stat().st_mode) == 0o644
        assert stat.S_IMODE((root / ".well-known").stat().st_mode) == 0o755
    assert sorted(p.name for p in root.iterdir()) == ["index.html"]
    # A directory that was there before stays.
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    with Webroot(root=root).serving({ACME_CHALLENGE_PATH + "tok": b"tok.thumb"}):
        assert (root / ".well-known" / "acme-challenge" / "tok").read_bytes() == b"tok.thumb"
    assert list((root / ".well-known" / "acme-challenge").iterdir()) == []


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/acme-challenge/../../../etc/passwd",
        "/.well-known/pki-validation/x.txt/../../y",
        "/index.html",
        "/.well-known/acme-challenge/",
    ],
)
def test_answer_paths_invalid(tmp_path: Path, path: str) -> None:
    with (
        pytest.raises(CAError, match="unexpected path"),
        Webroot(root=tmp_path).serving({path: b"x"}),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_webroot_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is not a directory"):
        Webroot(root=tmp_path / "missing")


def test_standalone_serves_only_the_check(tmp_path: Path) -> None:
    port = free_port()
    listener = Standalone(port=port, address="127.0.0.1")
    path = ACME_CHALLENGE_PATH + "token1"
    with listener.serving({path: b"token1.thumb"}):
        got = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert got.status_code == 200 and got.content == b"token1.thumb"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
    assert listener.fetched == [path]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def test_standalone_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with (
            pytest.raises(ConfigError, match=f"Cannot listen on 127.0.0.1:{port}") as info,
            Standalone(port=port, address="127.0.0.1").serving({ACME_CHALLENGE_PATH + "t": b""}),
        ):
            pass
    assert "--webroot" in (info.value.hint or "")


def test_responder_choice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="was not told how to answer"):
        responders.responder(None, None, "127.0.0.1")
    with pytest.raises(ConfigError, match="not both"):
        responders.responder(tmp_path, 8080, "127.0.0.1")
    with pytest.raises(ConfigError, match="is not a port number"):
        responders.responder(None, 70000, "127.0.0.1")
    assert isinstance(responders.responder(tmp_path, None, "127.0.0.1"), Webroot)
