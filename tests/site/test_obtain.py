"""``padlock obtain`` and ``padlock renew`` end to end against a real ``padlock serve``.

The CA's validation looks names up in a loopback DNS server (every name is 127.0.0.1) and
fetches the HTTP check from a port the test chooses: a file server over a web root
(``--webroot``), padlock obtain's own listener (``--standalone-port``), or a real Apache.
Certificates are verified with the real ``openssl`` against the server's own roots.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from tests.conftest import Result
from tests.site.conftest import (
    ApacheServer,
    NginxServer,
    check_json,
    eventually_serial,
    served_serial,
)
from tests.site.site_ca import (
    CA,
    CLI,
    PASSPHRASE,
    cert_of,
    key_fingerprint,
    lineage,
    mode,
    obtain,
    obtained,
    openssl_verify,
    start_ca,
)
from tests.support.dnsserver import TestDNS
from tests.support.ports import free_port

from padlock.pki import keys, serials

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def pass_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


# --------------------------------------------------------------------------- (1) test profile


def test_test_profile_rest_out_dir(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path, pass_file: Path
) -> None:
    out = tmp_path / "certs"
    doc = obtained(
        obtain(
            cli,
            "www.example.com",
            "--alias",
            "example.com",
            "--ca",
            webroot_ca.url,
            "--test",
            "--out",
            out,
            "--passphrase-file",
            pass_file,
            "--ca-root",
            webroot_ca.test_root,
            "--json",
            state=state,
        )
    )
    assert doc["status"] == "written"
    files = doc["files"]
    assert isinstance(files, dict)
    assert sorted(Path(p).name for p in files.values()) == [
        "www.example.com.chain.pem",
        "www.example.com.crt",
        "www.example.com.fullchain.pem",
        "www.example.com.key",
    ]
    assert mode(files["key"]) == 0o600
    assert {mode(files[k]) for k in ("cert", "chain", "fullchain")} == {0o644}
    # Encrypted, readable with the pass phrase only, and the certificate's key.
    key_pem = Path(files["key"]).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    cert = cert_of(files)
    assert key_fingerprint(files["key"], PASSPHRASE) == keys.fingerprint(cert.public_key())
    assert openssl_verify(webroot_ca.test_root, files).strip().endswith("OK")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "www.example.com"
    assert serials.display(cert.serial_number) == doc["serial"]  # as openssl x509 -serial
    assert Path(files["fullchain"]).read_bytes() == (
        Path(files["cert"]).read_bytes() + Path(files["chain"]).read_bytes()
    )
    # The CA knows the request; the state says how to renew, never the pass phrase.
    rid = doc["request_id"]
    with webroot_ca.api() as api:
        assert api.get(f"/api/v1/requests/{rid}").json()["state"] == "issued"
    record = lineage(state, "www.example.com")
    assert record["pending"] is None
    assert record["current"]["serial"] == doc["serial"]  # type: ignore[index]
    assert record["settings"]["kind"] == "test"  # type: ignore[index]
    assert (
        PASSPHRASE not in (state / "certificates" / "www.example.com" / "lineage.json").read_text()
    )
    assert mode(state / "certificates" / "www.example.com" / "lineage.json") == 0o600
    assert not (state / "certificates" / "www.example.com" / "pending").exists()


# --------------------------------------------------------------------------- (2) dv via REST


def test_dv_rest_webroot(cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path) -> None:
    assert webroot_ca.webroot is not None
    doc = obtained(
        obtain(
            cli,
            "shop.example.com",
            "--ca",
            webroot_ca.url,
            "--dv",
            "--out",
            tmp_path / "out",
            "--no-encrypt",
            "--webroot",
            webroot_ca.webroot,
            "--ca-root",
            webroot_ca.trusted_root,
            "--json",
            state=state,
        )
    )
    files = doc["files"]
    assert isinstance(files, dict)
    openssl_verify(webroot_ca.trusted_root, files)
    assert b"BEGIN PRIVATE KEY" in Path(files["key"]).read_bytes()  # --no-encrypt
    with webroot_ca.api() as api:
        req = api.get(f"/api/v1/requests/{doc['request_id']}").json()
    assert req["kind"] == "dv" and req["state"] == "issued"
    assert [v["method"] for v in req["validations"] if v["ok"]] == ["http", "caa"]
    # The check's file was served from the web root, and is gone again (so is its directory).
    assert list(webroot_ca.webroot.iterdir()) == []


def test_dv_rest_standalone(cli: CLI, standalone_ca: CA, state: Path, tmp_path: Path) -> None:
    doc = obtained(
        obtain(
            cli,
            "api.example.com",
            "--ca",
            standalone_ca.url,
            "--dv",
            "--out",
            tmp_path / "out",
            "--no-encrypt",
            "--standalone-port",
            str(standalone_ca.va_port),
            "--standalone-address",
            "127.0.0.1",
            "--ca-root",
            standalone_ca.trusted_root,
            "--json",
            state=state,
        )
    )
    files = doc["files"]
    assert isinstance(files, dict)
    openssl_verify(standalone_ca.trusted_root, files)
    # The listener is gone with the command.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{standalone_ca.va_port}/", timeout=5)


# --------------------------------------------------------------------------- (3) ACME


@pytest.mark.parametrize(
    ("directory", "root"), [("/acme/test/directory", "test"), ("/acme/directory", "trusted")]
)
def test_acme_standalone(
    cli: CLI, standalone_ca: CA, state: Path, tmp_path: Path, directory: str, root: str
) -> None:
    root_file = standalone_ca.test_root if root == "test" else standalone_ca.trusted_root
    doc = obtained(
        obtain(
            cli,
            "www.example.org",
            "--alias",
            "example.org",
            "--acme",
            standalone_ca.url + directory,
            "--agree-tos",
            "--out",
            tmp_path / "out",
            "--no-encrypt",
            "--standalone-port",
            str(standalone_ca.va_port),
            "--standalone-address",
            "127.0.0.1",
            "--ca-root",
            root_file,
            "--json",
            state=state,
        )
    )
    files = doc["files"]
    assert isinstance(files, dict)
    openssl_verify(root_file, files)
    assert str(doc["order_url"]).startswith(standalone_ca.url + directory.rsplit("/", 1)[0])
    # The account key is kept, readable by its owner only, and used again next time.
    accounts = list((state / "accounts").iterdir())
    assert len(accounts) == 1
    assert mode(accounts[0] / "key.pem") == 0o600
    account = json.loads((accounts[0] / "account.json").read_text())
    again = obtained(
        obtain(
            cli,
            "www.example.org",
            "--acme",
            standalone_ca.url + directory,
            "--out",
            tmp_path / "out",
            "--no-encrypt",
            "--standalone-port",
            str(standalone_ca.va_port),
            "--standalone-address",
            "127.0.0.1",
            "--ca-root",
            root_file,
            "--json",
            state=state,
        )
    )  # no --agree-tos needed: the account exists
    assert json.loads((accounts[0] / "account.json").read_text()) == account
    assert again["serial"] != doc["serial"]


@pytest.mark.parametrize(
    ("given", "kept"), [((), "classic"), (("--profile", "tlsserver"), "tlsserver")]
)
def test_acme_renew_keeps_the_profile_the_certificate_was_obtained_with(
    cli: CLI,
    standalone_ca: CA,
    state: Path,
    tmp_path: Path,
    given: tuple[str, ...],
    kept: str,
) -> None:
    """The profile the CA placed the order in is saved with the lineage, so renew asks for
    it again even when the directory's default changes (certbot#10271)."""
    root = standalone_ca.trusted_root
    name = f"{kept}.example.org"
    doc = obtained(
        obtain(
            cli, name, "--acme", standalone_ca.url + "/acme/directory", "--agree-tos",
            "--out", tmp_path / "out", "--no-encrypt",
            "--standalone-port", str(standalone_ca.va_port), "--standalone-address", "127.0.0.1",
            "--ca-root", root, "--json", *given,
            state=state,
        )
    )  # fmt: skip
    lineage = json.loads((state / "certificates" / name / "lineage.json").read_text())
    assert lineage["settings"]["profile"] == kept
    renewed = cli("renew", "--state-dir", state, "--renew-before", "400", "--json")
    assert renewed.rc == 0, renewed.err
    row = json.loads(renewed.out)["renewals"][0]
    assert row["action"] == "renewed" and row["new_serial"] != doc["serial"]
    files = doc["files"]
    assert isinstance(files, dict)
    leaf = x509.load_pem_x509_certificate(Path(files["cert"]).read_bytes())
    assert serials.display(leaf.serial_number) == row["new_serial"]
    has_cn = bool(leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME))
    assert has_cn == (kept == "classic")


def test_acme_webroot(cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path) -> None:
    assert webroot_ca.webroot is not None
    doc = obtained(
        obtain(
            cli,
            "blog.example.com",
            "--acme",
            webroot_ca.url + "/acme/test/directory",
            "--agree-tos",
            "--out",
            tmp_path / "out",
            "--no-encrypt",
            "--webroot",
            webroot_ca.webroot,
            "--ca-root",
            webroot_ca.test_root,
            "--json",
            state=state,
        )
    )
    openssl_verify(webroot_ca.test_root, doc["files"])  # type: ignore[arg-type]
    assert list(webroot_ca.webroot.iterdir()) == []


# --------------------------------------------------------------------------- (4) Apache


def test_apache_dv_installed_and_checked(
    cli: CLI,
    apache: ApacheServer,
    dns: TestDNS,
    tmp_path_factory: pytest.TempPathFactory,
    state: Path,
    pass_file: Path,
) -> None:
    """The CA's HTTP check is answered by the real Apache serving the web root; the new
    certificate is installed into it and ``padlock check`` sees its serial for every name."""
    ca = start_ca(tmp_path_factory.mktemp("obtain-apache-ca"), dns, va_port=apache.http_port)
    try:
        result = obtain(
            cli,
            "www.example.com",
            "--alias",
            "example.com",
            "--ca",
            ca.url,
            "--dv",
            "--apache",
            "--config-root",
            apache.root,
            "--port",
            str(apache.https_port),
            "--http-port",
            str(apache.http_port),
            "--listen-address",
            "127.0.0.1",
            "--webroot",
            apache.base / "www",
            "--passphrase-file",
            pass_file,
            "--ca-root",
            ca.trusted_root,
            "--json",
            state=state,
        )
        doc = obtained(result)
    finally:
        ca.server.stop()
    assert doc["status"] == "installed"
    serial = str(doc["serial"])
    checks = doc["checks"]
    assert isinstance(checks, list)
    assert {c["server_name"] for c in checks} == {"www.example.com", "example.com"}
    assert {c["serial"] for c in checks} == {serial}
    assert all(c["verified"] and c["name_matches"] for c in checks)
    for name in ("www.example.com", "example.com"):
        rc, report = check_json(cli, apache.https_port, name, ca.trusted_root, serial)
        assert rc == 0 and report["serial"] == serial and report["verified"]
        assert served_serial(apache.https_port, name, ca.trusted_root.read_bytes()) == serial
    # The key stays encrypted (Apache gets the pass phrase from padlock's helper) and the
    # files padlock keeps for renewal are in the state directory, the key 0600.
    files = doc["files"]
    assert isinstance(files, dict)
    assert Path(files["key"]).parent == state / "certificates" / "www.example.com" / "current"
    assert mode(files["key"]) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in Path(files["key"]).read_bytes()
    assert apache.configtest().returncode == 0
    # The check's file is gone from Apache's document root.
    assert not (apache.base / "www" / ".well-known").exists()


def test_nginx_test_profile_then_renewed_in_place(
    cli: CLI, nginx: NginxServer, webroot_ca: CA, state: Path, pass_file: Path
) -> None:
    """Into a real nginx; then renew (the saved settings: nginx, its ports, the pass phrase
    file) installs the next certificate into the running server."""
    result = obtain(
        cli, "www.example.com", "--ca", webroot_ca.url, "--test", "--nginx",
        "--config-root", nginx.root, "--port", str(nginx.https_port),
        "--http-port", str(nginx.http_port), "--listen-address", "127.0.0.1",
        "--passphrase-file", pass_file, "--ca-root", webroot_ca.test_root, "--json",
        state=state,
    )  # fmt: skip
    first = obtained(result)
    assert first["status"] == "installed"
    root_pem = webroot_ca.test_root.read_bytes()
    assert served_serial(nginx.https_port, "www.example.com", root_pem) == first["serial"]

    renewed = cli("renew", "--state-dir", state, "--renew-before", "30", "--json")
    assert renewed.rc == 0, renewed.err
    row = json.loads(renewed.out)["renewals"][0]
    assert row["action"] == "renewed" and row["new_serial"] != first["serial"]
    eventually_serial(nginx.https_port, "www.example.com", root_pem, row["new_serial"])
    rc, report = check_json(
        cli, nginx.https_port, "www.example.com", webroot_ca.test_root, row["new_serial"]
    )
    assert rc == 0 and report["serial"] == row["new_serial"] and report["verified"]
    assert nginx.configtest().returncode == 0


# --------------------------------------------------------------------------- (5) ov


def test_ov_waits_for_review_then_resume(
    cli: CLI,
    padlock_proc: CLI,
    webroot_ca: CA,
    state: Path,
    tmp_path: Path,
) -> None:
    assert webroot_ca.webroot is not None
    doc_file = tmp_path / "registration.pdf"
    doc_file.write_bytes(PDF)
    out = tmp_path / "out"
    result = obtain(
        cli,
        "secure.example.com",
        "--ca",
        webroot_ca.url,
        "--ov",
        "--org",
        "Widgets Limited",
        "--country",
        "GB",
        "--locality",
        "Leeds",
        "--document",
        doc_file,
        "--out",
        out,
        "--no-encrypt",
        "--webroot",
        webroot_ca.webroot,
        "--ca-root",
        webroot_ca.trusted_root,
        state=state,
    )
    assert result.rc == 0, result.err
    record = lineage(state, "secure.example.com")
    pending = record["pending"]
    assert isinstance(pending, dict)
    rid = pending["request_id"]
    assert pending["state"] == "in_review"
    assert "Waiting for review" in result.out
    assert f"{webroot_ca.url}/status/{rid}" in result.out
    assert f"padlock obtain --resume {rid}" in result.out
    assert not out.exists()
    # Resuming before the review changes nothing and says so again.
    early = cli("obtain", "--resume", rid, "--state-dir", state)
    assert early.rc == 0 and "Waiting for review" in early.out
    with webroot_ca.api() as api:
        req = api.get(f"/api/v1/requests/{rid}").json()
    assert req["state"] == "in_review" and len(req["documents"]) == 1

    data = webroot_ca.server.data_dir
    approved = padlock_proc(
        "review", "approve", rid, "--org", "Widgets Limited", "--country", "GB",
        "--locality", "Leeds", "--data-dir", data,
        "--passphrase-file", data / "ca" / "passphrase",
        env=webroot_ca.server.env,
    )  # fmt: skip
    assert approved.rc == 0, approved.err

    done = cli("obtain", "--resume", rid, "--state-dir", state, "--json")
    doc = obtained(done)
    files = doc["files"]
    assert isinstance(files, dict)
    openssl_verify(webroot_ca.trusted_root, files)
    cert = cert_of(files)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Widgets Limited"
    )
    assert lineage(state, "secure.example.com")["pending"] is None


# --------------------------------------------------------------------------- bad input


def _nothing_written(state: Path, out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []
    certs = state / "certificates"
    assert not certs.exists() or list(certs.iterdir()) == []


def _one_error(result: Result) -> str:
    assert result.rc == 1
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.err
    return lines[0]


def test_url_as_name_is_refused(cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = obtain(
        cli, "http://www.example.com/", "--ca", webroot_ca.url, "--test", "--out", out,
        "--no-encrypt", state=state,
    )  # fmt: skip
    assert _one_error(result) == "error: 'http://www.example.com/' is a URL, not a host name."
    assert "hint: Put only the host name: www.example.com" in result.err
    _nothing_written(state, out)


def test_unreachable_ca(cli: CLI, state: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    port = free_port()
    result = obtain(
        cli, "www.example.com", "--ca", f"http://127.0.0.1:{port}", "--test", "--out", out,
        "--no-encrypt", state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert line == f"error: Cannot reach the CA at http://127.0.0.1:{port}: connection refused."
    _nothing_written(state, out)


def test_unreachable_acme_directory(cli: CLI, state: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    port = free_port()
    result = obtain(
        cli, "www.example.com", "--acme", f"http://127.0.0.1:{port}/directory", "--out", out,
        "--no-encrypt", "--standalone-port", str(free_port()), state=state,
    )  # fmt: skip
    assert "Cannot reach the CA at http://127.0.0.1" in _one_error(result)
    _nothing_written(state, out)


def _hint(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("hint: ")]
    assert len(lines) == 1, result.err
    return lines[0]


def test_mistyped_ca_url_hint_says_check_the_url(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = obtain(
        cli, "www.example.com", "--ca", webroot_ca.url + "/api/v2", "--test", "--out", out,
        "--no-encrypt", state=state,
    )  # fmt: skip
    assert "The CA refused the request" in _one_error(result)
    hint = _hint(result)
    assert hint.startswith("hint: Check --ca: it is the padlock CA's base URL"), hint
    assert "id" not in hint.split()
    _nothing_written(state, out)


def test_mistyped_acme_directory_hint_says_check_the_directory(
    cli: CLI, standalone_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = obtain(
        cli, "www.example.com", "--acme", standalone_ca.url + "/acme/directroy", "--out", out,
        "--no-encrypt", "--standalone-port", str(standalone_ca.va_port), state=state,
    )  # fmt: skip
    assert "The CA refused the directory request" in _one_error(result)
    hint = _hint(result)
    assert hint.startswith("hint: Check --acme: it is the ACME directory's URL"), hint
    _nothing_written(state, out)


def test_name_without_dns_hint_says_dns(
    cli: CLI, webroot_ca: CA, dns: TestDNS, state: Path, tmp_path: Path
) -> None:
    """The CA's resolver answers NXDOMAIN for the name: the hint is about DNS, not about
    the web root (which cannot help)."""
    assert webroot_ca.webroot is not None
    dns.zone.nxdomain.add("nodns.example.com")
    result = obtain(
        cli, "nodns.example.com", "--ca", webroot_ca.url, "--dv", "--out", tmp_path / "out",
        "--no-encrypt", "--webroot", webroot_ca.webroot, state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert "nodns.example.com: HTTP: nodns.example.com has no A or AAAA record" in line
    hint = _hint(result)
    assert hint.startswith("hint: Publish an A or AAAA record for nodns.example.com"), hint
    assert "well-known" not in hint and "webroot" not in hint


def test_reserved_name_refused_without_a_webroot_hint(
    cli: CLI, webroot_ca: CA, dns: TestDNS, state: Path, tmp_path: Path
) -> None:
    """A name that can never resolve (.invalid, RFC 6761 section 6.4): refused at once,
    in words about the name, with nothing said of web roots or ids."""
    assert webroot_ca.webroot is not None
    dns.zone.nxdomain.add("nonexistent.invalid")
    out = tmp_path / "out"
    result = obtain(
        cli, "nonexistent.invalid", "--ca", webroot_ca.url, "--dv", "--out", out,
        "--no-encrypt", "--webroot", webroot_ca.webroot, state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert line.startswith("error: The CA refused the request: nonexistent.invalid is a"), line
    assert "internal name" in line
    assert "well-known" not in result.err and "Check the id" not in result.err
    _nothing_written(state, out)


def test_acme_name_without_dns_hint_says_dns(
    cli: CLI, standalone_ca: CA, dns: TestDNS, state: Path, tmp_path: Path
) -> None:
    dns.zone.nxdomain.add("nodns-acme.example.com")
    result = obtain(
        cli, "nodns-acme.example.com", "--acme", standalone_ca.url + "/acme/directory",
        "--agree-tos", "--out", tmp_path / "out", "--no-encrypt",
        "--standalone-port", str(standalone_ca.va_port), state=state,
    )  # fmt: skip
    assert "could not confirm that you control nodns-acme.example.com" in _one_error(result)
    hint = _hint(result)
    assert hint.startswith("hint: Publish an A or AAAA record for nodns-acme.example.com"), hint


def test_wrong_ca_root_writes_nothing_then_resume(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = obtain(
        cli, "root.example.com", "--ca", webroot_ca.url, "--test", "--out", out,
        "--no-encrypt", "--ca-root", webroot_ca.trusted_root, state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert "leads to 'padlock Test Root CA', which is not among the roots given with --ca-root" in (
        line
    )
    assert line.endswith("Nothing was written.")
    assert not out.exists()
    pending = lineage(state, "root.example.com")["pending"]
    assert isinstance(pending, dict) and pending["state"] == "issued"
    assert f"padlock obtain --resume {pending['request_id']}" in result.err
    # The certificate waits at the CA: resume with the right root writes it.
    done = obtained(
        cli("obtain", "--resume", "root.example.com", "--ca-root", webroot_ca.test_root,
            "--state-dir", state, "--json")
    )  # fmt: skip
    openssl_verify(webroot_ca.test_root, done["files"])  # type: ignore[arg-type]


def test_ca_refuses_an_internal_name(cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path) -> None:
    assert webroot_ca.webroot is not None
    out = tmp_path / "out"
    result = obtain(
        cli, "intranet.corp", "--ca", webroot_ca.url, "--dv", "--out", out, "--no-encrypt",
        "--webroot", webroot_ca.webroot, state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert line.startswith("error: The CA refused the request: ")
    assert "internal name" in line
    _nothing_written(state, out)


def test_check_not_answered_then_resume(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    """A web root the CA does not see: the check fails, the request is kept, and --resume
    with the right web root finishes it."""
    assert webroot_ca.webroot is not None
    wrong = tmp_path / "not-served"
    wrong.mkdir()
    out = tmp_path / "out"
    result = obtain(
        cli, "check.example.com", "--ca", webroot_ca.url, "--dv", "--out", out,
        "--no-encrypt", "--webroot", wrong, "--ca-root", webroot_ca.trusted_root, state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert line.startswith("error: The CA could not confirm that you control check.example.com")
    pending = lineage(state, "check.example.com")["pending"]
    assert isinstance(pending, dict)
    assert f"padlock obtain --resume {pending['request_id']}" in result.err
    assert list(wrong.iterdir()) == []  # cleaned up
    assert not out.exists()
    done = obtained(
        cli("obtain", "--resume", str(pending["request_id"]), "--webroot", webroot_ca.webroot,
            "--state-dir", state, "--json")
    )  # fmt: skip
    openssl_verify(webroot_ca.trusted_root, done["files"])  # type: ignore[arg-type]


def test_resume_unknown(cli: CLI, state: Path) -> None:
    line = _one_error(cli("obtain", "--resume", "no-such-request", "--state-dir", state))
    assert line.startswith("error: padlock has no request 'no-such-request'")


def test_acme_terms_must_be_agreed(
    cli: CLI, standalone_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = obtain(
        cli, "tos.example.com", "--acme", standalone_ca.url + "/acme/test/directory",
        "--out", out, "--no-encrypt", "--standalone-port", str(standalone_ca.va_port),
        state=state,
    )  # fmt: skip
    line = _one_error(result)
    assert "agree to its terms of service" in line
    assert "--agree-tos" in result.err
    _nothing_written(state, out)


def test_foreign_files_in_out_dir_refused_before_asking(
    cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "www.example.com.key").write_text("someone else's key\n")
    result = obtain(
        cli, "www.example.com", "--ca", webroot_ca.url, "--test", "--out", out, "--no-encrypt",
        state=state,
    )  # fmt: skip
    assert "exists already; padlock obtain does not overwrite it" in _one_error(result)
    assert (out / "www.example.com.key").read_text() == "someone else's key\n"
    assert sorted(p.name for p in out.iterdir()) == ["www.example.com.key"]
    _nothing_written(state, tmp_path / "elsewhere")


def test_not_an_apache_config_root(cli: CLI, webroot_ca: CA, state: Path, tmp_path: Path) -> None:
    result = obtain(
        cli, "www.example.com", "--ca", webroot_ca.url, "--test", "--apache",
        "--config-root", tmp_path, "--no-encrypt", state=state,
    )  # fmt: skip
    assert "does not look like an Apache configuration" in _one_error(result)
    _nothing_written(state, tmp_path / "out")
