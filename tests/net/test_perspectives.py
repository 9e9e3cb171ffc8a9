"""The CA's HTTP client to a perspective, against a real ``padlock perspective serve``:
answers come back as JSON over kept connections; refusals, closed ports and slow or
oversized answers become PerspectiveUnreachable, never a foreign exception."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.ca.mpic.signing import RequestKey, public_text, unseal
from padlock.net.perspectives import MAX_ANSWER, HttpTransport, PerspectiveUnreachable
from tests.support.padlock_server import launch
from tests.web.test_perspective_app import PADLOCK, Served, _request, served  # noqa: F401


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


def _tls_files(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the perspective's HTTPS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perspective fra")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    crt, pem = root / "fra.crt", root / "fra.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, pem


def test_perspectives_over_https_with_the_ca_bundle(tmp_path: Path) -> None:
    """``perspective serve --tls-cert/--tls-key``, reached by the CA with its CA bundle
    (PADLOCK_MPIC_CA_BUNDLE); without that bundle the certificate is refused."""
    subprocess.run([PADLOCK, "perspective", "init", "--dir", str(tmp_path)], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    key = RequestKey.from_pem((tmp_path / "perspective.key").read_bytes(), "key")
    ca, _pem = RequestKey.generate()
    crt, pem = _tls_files(tmp_path)
    args = [PADLOCK, "perspective", "serve", "--dir", tmp_path, "--name", "fra", "--port", "0"]
    args += ["--ca-key", public_text(ca.public), "--tls-cert", crt, "--tls-key", pem]
    server = launch(args, env={**os.environ}, log=tmp_path / "serve.log", verify=crt)
    try:
        assert server.url.startswith("https://")
        answer = HttpTransport(str(crt)).post(f"{server.url}/check", ca.seal(_request()), 10)
        payload, _sent = unseal(answer, key.public, "answer")
        assert payload["perspective"] == "fra"
        with pytest.raises(PerspectiveUnreachable, match=r"TLS with .* failed"):
            HttpTransport().post(f"{server.url}/check", ca.seal(_request()), 10)
    finally:
        server.stop()
