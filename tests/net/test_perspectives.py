"""The CA's HTTP client to a perspective, against a real ``padlock perspective serve``:
answers come back as JSON over kept connections; refusals, closed ports and slow or
oversized answers become PerspectiveUnreachable, never a foreign exception."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from padlock.ca.mpic.signing import RequestKey, unseal
from padlock.net.perspectives import MAX_ANSWER, HttpTransport, PerspectiveUnreachable
from tests.web.test_perspective_app import Served, _request, served  # noqa: F401


def test_perspectives_post_twice_on_one_connection(served: Served) -> None:  # noqa: F811
    transport = HttpTransport()
    for _ in range(2):
        answer = transport.post(f"{served.server.url}/check", served.ca.seal(_request()), 10)
        payload, _sent = unseal(answer, served.key.public, "answer")
        assert payload["perspective"] == "fra"


def test_perspectives_refusal_says_why(served: Served) -> None:  # noqa: F811
    stranger, _pem = RequestKey.generate()
    with pytest.raises(PerspectiveUnreachable, match=r"HTTP 403\): The request is not signed"):
        HttpTransport().post(f"{served.server.url}/check", stranger.seal(_request()), 10)


def test_perspectives_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PerspectiveUnreachable, match="cannot be reached"):
        HttpTransport().post(f"http://127.0.0.1:{port}/check", {"payload": "", "signature": ""}, 5)


@pytest.fixture
def raw_server() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A listener that answers each connection with the bytes queued (nothing: silence)."""
    sock = socket.create_server(("127.0.0.1", 0))
    answers: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    conn.recv(65536)
                    if answers:
                        conn.sendall(answers.pop(0))
                    while conn.recv(65536):  # the rest of the request, until the client leaves
                        pass
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield sock, answers
    finally:
        sock.close()


def test_perspectives_silent_server_times_out(
    raw_server: tuple[socket.socket, list[bytes]],
) -> None:
    port = raw_server[0].getsockname()[1]
    with pytest.raises(PerspectiveUnreachable, match=r"no answer within 0\.5 s"):
        HttpTransport().post(f"http://127.0.0.1:{port}/check", {"payload": "x"}, 0.5)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "not JSON"),
        (b"garbage\r\n\r\n", "cannot be reached"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_ANSWER + 10)
            + b" " * (MAX_ANSWER + 10),
            "over 256 KiB",
        ),
    ],
)
def test_perspectives_bad_answers(
    raw_server: tuple[socket.socket, list[bytes]], answer: bytes, message: str
) -> None:
    sock, answers = raw_server
    answers.append(answer)
    with pytest.raises(PerspectiveUnreachable, match=message):
        HttpTransport().post(f"http://127.0.0.1:{sock.getsockname()[1]}/check", {"a": "b"}, 5)
