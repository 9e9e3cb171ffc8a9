"""README "ACME", as a new user types it: ``padlock serve --tls`` on a fresh data dir (no
``ca init`` first, the pass phrase generated), then certbot (Debian's) for a dv certificate.

What it shows (issue 14, item 1): the CA made on that first start writes plain http URLs
(AIA caIssuers, OCSP, CRL DP) from its PKI base URL, so pre-issuance lint accepts dv
certificates through ACME, REST and ``padlock ca issue`` alike; and ``serve --tls`` answers
those URLs over plain HTTP on ``--pki-port``, where openssl fetches the issuer, the CRL and
an OCSP answer as a relying party would. ``localhost`` is the README's host here (the
machine resolves no public name): pkilint's findings for that internal host are the only
ones allowed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.ca.conftest import build_csr
from tests.interop.conftest import OPENSSL, PADLOCK, program, run
from tests.interop.readme_server import Served, readme_serve
from tests.support.dnsserver import TestDNS


@pytest.fixture
def served(tmp_path: Path, dns: tuple[TestDNS, Path]) -> Iterator[Served]:
    with readme_serve(tmp_path, dns[0]) as server:
        yield server


def _urls(cert: x509.Certificate) -> dict[str, str]:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    crldp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    found = {
        "ocsp" if d.access_method == AuthorityInformationAccessOID.OCSP else "issuer": str(
            d.access_location.value
        )
        for d in aia
    }
    point = next(iter(crldp))
    assert point.full_name is not None
    found["crl"] = str(point.full_name[0].value)
    return found


def _plain(served: Served, url: str) -> str:
    """A URL from a certificate, reached on this machine (localhost is 127.0.0.1 here)."""
    prefix = f"http://localhost:{served.pki_port}/"
    assert url.startswith(prefix), url
    return served.pki + "/" + url[len(prefix) :]


def _relying_party_checks(served: Served, cert_path: Path, tmp_path: Path) -> None:
    """Fetch issuer, CRL and OCSP over plain HTTP as a relying party does; verify with them."""
    leaf = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    urls = _urls(leaf)
    issuer_der = httpx.get(_plain(served, urls["issuer"]), timeout=10)
    assert issuer_der.status_code == 200
    assert "strict-transport-security" not in issuer_der.headers  # plain HTTP: never (RFC 6797)
    assert issuer_der.headers["content-type"] == "application/pkix-cert"
    issuer = x509.load_der_x509_certificate(issuer_der.content)
    leaf.verify_directly_issued_by(issuer)
    crl = x509.load_der_x509_crl(httpx.get(_plain(served, urls["crl"]), timeout=10).content)
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    if "ocsp" not in urls:  # a CA without OCSP (the trusted one by default): CRLs only
        assert "/crl/trusted-issuing/" in urls["crl"]  # its shard
        return
    issuer_pem = tmp_path / "issuer.pem"
    issuer_pem.write_bytes(issuer.public_bytes(Encoding.PEM))
    status = subprocess.run(
        [OPENSSL, "ocsp", "-issuer", str(issuer_pem), "-cert", str(cert_path), "-url",
         _plain(served, urls["ocsp"]), "-CAfile", str(served.data / "ca/trusted/root.crt")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"{cert_path}: good" in status.stdout, status.stdout + status.stderr
    assert "Response verify OK" in status.stderr


def test_readme_serve_tls_then_certbot_gets_a_dv_certificate(
    served: Served, tmp_path: Path
) -> None:
    name = f"readme-{secrets.token_hex(4)}.example.com"
    work = tmp_path / "certbot"
    run(
        [program("certbot"), "certonly", "--standalone", "--server",
         f"{served.base}/acme/directory", "-d", name, "--http-01-port", str(served.http_port),
         "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
         "--config-dir", str(work / "config"), "--work-dir", str(work / "work"),
         "--logs-dir", str(work / "logs")],
        env={"REQUESTS_CA_BUNDLE": str(served.test_root)},
    )  # fmt: skip
    live = work / "config" / "live" / name
    leaf = served.check(live / "cert.pem", live / "chain.pem", [name])
    assert all(u.startswith(f"http://localhost:{served.pki_port}/") for u in _urls(leaf).values())
    _relying_party_checks(served, live / "cert.pem", tmp_path)


def test_readme_serve_tls_rest_and_ca_issue_point_at_plain_http(
    served: Served, tmp_path: Path
) -> None:
    csr = build_csr(["www.example.com"])
    trusting = ssl.create_default_context(cafile=str(served.test_root))
    answer = httpx.post(
        f"{served.base}/api/v1/requests",
        json={"csr": csr.decode(), "kind": "test", "contact": "me@example.com"},
        verify=trusting,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["strict-transport-security"] == "max-age=31536000"  # RFC 6797
    chain = httpx.get(
        f"{served.base}/api/v1/requests/{answer.json()['id']}/certificate?format=pem",
        verify=trusting,
        timeout=30,
    )
    test_leaf = x509.load_pem_x509_certificate(chain.content)
    assert _urls(test_leaf)["ocsp"] == (
        f"http://localhost:{served.pki_port}/ocsp/test-issuing"
    )  # nginx staples only from an http responder

    csr_path = tmp_path / "dv.csr"
    csr_path.write_bytes(build_csr(["dv.example.com"]))
    issued = subprocess.run(
        [PADLOCK, "ca", "issue", str(csr_path), "--profile", "dv", "--i-have-validated",
         "-o", str(tmp_path / "dv.crt")],
        cwd=served.cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    _relying_party_checks(served, tmp_path / "dv.crt", tmp_path)
    doctor = subprocess.run(
        [PADLOCK, "doctor", "--json"], cwd=served.cwd, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    checks = {c["check"]: c["ok"] for c in json.loads(doctor.stdout)}
    assert checks["pki-url"] is True and checks["pki-fetch"] is True
    assert checks["pki-host"] is False  # localhost: internal, and doctor says so

    os.killpg(served.proc.pid, signal.SIGTERM)
    served.proc.wait(timeout=30)
    # The plain-HTTP listener (serve's child, in its process group) ended with serve: checked
    # by process, not by port, which another program may take the moment it is free.
    with pytest.raises(ProcessLookupError):
        os.killpg(served.proc.pid, 0)


def test_serve_tls_with_a_taken_pki_port_is_a_clear_error(tmp_path: Path) -> None:
    port = 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        pki_port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
        proc = subprocess.run(
            [PADLOCK, "serve", "--tls", "--port", str(port), "--pki-port", str(pki_port)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"listener cannot listen on 127.0.0.1:{pki_port}: Address already in use" in proc.stderr
    assert "Choose another --pki-port" in proc.stderr and "Traceback" not in proc.stderr
