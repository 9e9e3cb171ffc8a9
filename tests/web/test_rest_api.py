"""The REST API over HTTP against a real ``padlock serve``: the seed's test, dv and ov flows,
with the domain checks answered by loopback DNS and HTTP servers and mail by a loopback SMTP
server; then everything an applicant (or an attacker) could send that is wrong."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from padlock.ca.enrollment.model import Reviewer
from padlock.pki.certs import Organization
from tests.conftest import OPENSSL
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.smtpserver import TestSMTP
from tests.web.conftest import (
    CAA_IDENTITY,
    PadlockServer,
    key_pem,
    make_csr,
    server_enrollment,
)

PROBLEM = "application/problem+json"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BROKEN_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _submit(client: httpx.Client, csr: str, kind: str = "test", **extra: Any) -> httpx.Response:
    body = {"csr": csr, "kind": kind, "contact": extra.pop("contact", "owner@example.com")}
    body.update(extra)
    return client.post("/api/v1/requests", json=body)


def _problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    doc: dict[str, Any] = resp.json()
    assert doc["status"] == status and doc["type"] and doc["title"] and doc["detail"]
    return doc


def _openssl(*args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, check=True)
    return out.stdout.decode()


def _save(tmp: Path, name: str, data: bytes) -> str:
    path = tmp / name
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def client(padlock_server: PadlockServer) -> Any:
    with padlock_server.client() as c:
        yield c


# --------------------------------------------------------------------------- test certificate


def test_rest_test_certificate_at_once_in_four_formats(
    client: httpx.Client, padlock_server: PadlockServer, tmp_path: Path, smtp: TestSMTP
) -> None:
    _key, csr = make_csr(["www.example.com", "example.com"])
    resp = _submit(client, csr, contact="tester@example.com")
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["state"] == "issued" and doc["kind"] == "test"
    assert len(doc["id"]) >= 32  # 192 random bits, URL-safe base64
    assert doc["status_url"] == f"{padlock_server.url}/status/{doc['id']}"
    assert resp.headers["location"].endswith(f"/api/v1/requests/{doc['id']}")
    assert [t["action"] for t in doc["timeline"]] == ["submitted", "issued"]
    serial = doc["certificate"]["serial"]
    assert set(doc["certificate"]["download"]) == {"pem", "der", "chain", "pkcs7"}

    root = client.get("/roots/test.pem").content
    root_path = _save(tmp_path, "root.pem", root)
    pem = client.get(doc["certificate"]["download"]["pem"])
    assert pem.status_code == 200 and pem.headers["content-type"] == "application/x-pem-file"
    assert "attachment" in pem.headers["content-disposition"]
    assert pem.content.count(b"BEGIN CERTIFICATE") == 1
    leaf = x509.load_pem_x509_certificate(pem.content)
    assert format(leaf.serial_number, "x") == serial
    chain = client.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": "chain"})
    assert chain.content.startswith(pem.content) and chain.content.count(b"BEGIN CERT") == 2
    leaf_path = _save(tmp_path, "leaf.pem", pem.content)
    chain_path = _save(tmp_path, "chain.pem", chain.content)
    verified = _openssl("verify", "-CAfile", root_path, "-untrusted", chain_path, leaf_path)
    assert verified.strip().endswith("OK")

    der = client.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": "der"})
    assert der.headers["content-type"] == "application/pkix-cert"
    der_text = _openssl("x509", "-inform", "DER", "-noout", "-serial", stdin=der.content)
    assert der_text.strip().lower().endswith(serial)

    p7 = client.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": "pkcs7"})
    assert p7.headers["content-type"] == "application/pkcs7-mime"
    printed = _openssl("pkcs7", "-inform", "DER", "-print_certs", stdin=p7.content)
    assert printed.count("BEGIN CERTIFICATE") == 2
    # PKCS#7 certificates are a DER SET OF, sorted by their encodings: the leaf is one of
    # them, not necessarily the first.
    p7_certs = x509.load_pem_x509_certificates(printed.encode())
    assert leaf in p7_certs
    verified = _openssl(
        "verify",
        "-CAfile",
        root_path,
        "-untrusted",
        chain_path,
        _save(tmp_path, "p7.pem", printed.encode()),
    )
    assert "OK" in verified

    mails = smtp.wait_for("tester@example.com")
    assert mails and "issued" in mails[0].subject
    assert doc["status_url"] in mails[0].body and serial in mails[0].body


def test_rest_certificate_fetch_works_again_after_restart(
    client: httpx.Client, padlock_server: PadlockServer
) -> None:
    _key, csr = make_csr(["again.example.com"])
    doc = _submit(client, csr).json()
    first = {
        f: client.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": f}).content
        for f in ("pem", "der", "chain", "pkcs7")
    }
    padlock_server.restart()
    with padlock_server.client() as later:
        again = later.get(f"/api/v1/requests/{doc['id']}")
        assert again.status_code == 200 and again.json()["state"] == "issued"
        for fmt, content in first.items():
            resp = later.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": fmt})
            assert resp.status_code == 200 and resp.content == content


# --------------------------------------------------------------------------- dv


def test_rest_dv_http_file_then_dns_txt_issues(
    client: httpx.Client,
    va_web: FileServer,
    va_dns: TestDNS,
    tmp_path: Path,
    smtp: TestSMTP,
) -> None:
    _key, csr = make_csr(["www.dvhttp.example.com", "dvhttp.example.com"])
    resp = _submit(client, csr, "dv", contact="dv-owner@example.com")
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["state"] == "submitted" and doc["certificate"] is None
    www, apex = doc["challenges"]
    assert www["name"] == "www.dvhttp.example.com" and www["methods"] == ["http", "dns"]
    assert www["http_url"] == (
        f"http://www.dvhttp.example.com/.well-known/pki-validation/{www['token']}.txt"
    )
    assert www["dns_record"] == "_pki-validation.www.dvhttp.example.com"
    assert len(www["token"]) >= 43  # 256 bits
    assert www["token"] in www["instructions"]["http"] and "TXT" in www["instructions"]["dns"]

    # Only the first name is in place: nothing is issued.
    va_web.files[f"/.well-known/pki-validation/{www['token']}.txt"] = www["token"].encode()
    checked = client.post(doc["links"]["validate"])
    assert checked.status_code == 200
    partial = checked.json()
    assert partial["state"] == "validating" and partial["certificate"] is None
    states = {c["name"]: c for c in partial["challenges"]}
    assert states["www.dvhttp.example.com"]["state"] == "valid"
    assert states["www.dvhttp.example.com"]["method"] == "http"
    assert states["dvhttp.example.com"]["state"] == "pending"
    assert "404" in states["dvhttp.example.com"]["error"]
    http_ok = next(v for v in partial["validations"] if v["method"] == "http" and v["ok"])
    evidence = http_ok["evidence"]
    assert evidence["target"].endswith(f"{www['token']}.txt")
    assert evidence["addresses"] == ["127.0.0.1"] and evidence["resolver"] == va_dns.spec
    assert evidence["at"]
    assert client.get(f"/api/v1/requests/{doc['id']}/certificate").status_code == 409

    va_dns.zone.add_txt(apex["dns_record"], apex["token"])
    done = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
    assert done["state"] == "issued", done
    assert {c["method"] for c in done["challenges"]} == {"http", "dns"}
    assert [v["ok"] for v in done["validations"] if v["method"] == "caa"] == [True, True]
    actions = [t["action"] for t in done["timeline"]]
    assert actions == ["submitted", "checked", "checked", "issued"]

    chain = client.get(f"/api/v1/requests/{doc['id']}/certificate", params={"format": "chain"})
    root = _save(tmp_path, "trusted.pem", client.get("/roots/trusted.pem").content)
    leaf = _save(
        tmp_path,
        "leaf.pem",
        chain.content.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n",
    )
    out = _openssl(
        "verify",
        "-CAfile",
        root,
        "-untrusted",
        _save(tmp_path, "c.pem", chain.content),
        "-purpose",
        "sslserver",
        leaf,
    )
    assert out.strip().endswith("OK")
    cert = x509.load_pem_x509_certificate(chain.content)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == [
        "dvhttp.example.com",
        "www.dvhttp.example.com",
    ]

    subjects = [m.subject for m in smtp.wait_for("dv-owner@example.com", 3)]
    assert any("submitted" in s for s in subjects) and any("issued" in s for s in subjects)
    first = smtp.to("dv-owner@example.com")[0]
    assert www["token"] in first.body  # the instructions travel with the mail


def test_rest_dv_wildcard_by_dns_txt(client: httpx.Client, va_dns: TestDNS) -> None:
    _key, csr = make_csr(["*.wild.example.com"])
    doc = _submit(client, csr, "dv").json()
    (ch,) = doc["challenges"]
    assert ch["methods"] == ["dns"] and ch["http_url"] is None
    assert ch["dns_record"] == "_pki-validation.wild.example.com"
    va_dns.zone.add_txt(ch["dns_record"], ch["token"])
    done = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
    assert done["state"] == "issued"
    assert done["challenges"][0]["method"] == "dns"


def test_rest_dv_reuses_validation_of_previous_request(
    client: httpx.Client, va_dns: TestDNS
) -> None:
    _key, csr = make_csr(["reuse.example.com"])
    first = _submit(client, csr, "dv").json()
    va_dns.zone.add_txt(first["challenges"][0]["dns_record"], first["challenges"][0]["token"])
    assert client.post(f"/api/v1/requests/{first['id']}/validate").json()["state"] == "issued"
    va_dns.zone.clear_txt(first["challenges"][0]["dns_record"])
    _key2, csr2 = make_csr(["reuse.example.com"])
    second = _submit(client, csr2, "dv", previous_request=first["id"])
    assert second.status_code == 201
    doc = second.json()
    assert doc["state"] == "issued" and doc["challenges"][0]["method"] == "reused"
    # Without the lineage, nothing is reused.
    third = _submit(client, csr2, "dv").json()
    assert third["state"] == "submitted"


def test_rest_failed_checks_never_issue(
    client: httpx.Client, va_web: FileServer, va_dns: TestDNS
) -> None:
    _key, csr = make_csr(["fails.example.com"])
    doc = _submit(client, csr, "dv").json()
    ch = doc["challenges"][0]
    va_web.files[f"/.well-known/pki-validation/{ch['token']}.txt"] = b"some other value"
    va_dns.zone.add_txt(ch["dns_record"], "not-the-token")
    for _attempt in range(2):
        got = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
        assert got["state"] == "validating" and got["certificate"] is None
        assert "expected content" in got["challenges"][0]["error"]
    va_dns.zone.servfail.add("_pki-validation.fails.example.com")
    got = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
    assert got["state"] == "validating"
    assert any(v["problem"] == "dns" for v in got["validations"])
    assert client.get(f"/api/v1/requests/{doc['id']}/certificate").status_code == 409


def test_rest_validate_bad_redirect_is_a_failed_check(
    client: httpx.Client, va_web: FileServer, va_dns: TestDNS
) -> None:
    """A Location with port 99999 once answered 500 with a traceback (issue 14)."""
    _key, csr = make_csr(["redirects.example.com"])
    doc = _submit(client, csr, "dv").json()
    ch = doc["challenges"][0]
    path = f"/.well-known/pki-validation/{ch['token']}.txt"
    va_dns.zone.servfail.add(ch["dns_record"])
    for location in ("http://127.0.0.1:99999/x", "http:///no-host", "gopher://x.example.com/"):
        va_web.redirects[path] = location
        resp = client.post(f"/api/v1/requests/{doc['id']}/validate")
        assert resp.status_code == 200, resp.text
        got = resp.json()
        assert got["state"] == "validating" and got["certificate"] is None
        assert "redirects to" in got["challenges"][0]["error"]
        assert any(v["method"] == "http" and v["problem"] for v in got["validations"])


@pytest.mark.parametrize(
    ("kind", "name", "says"),
    [
        ("test", "1.0.0.127.in-addr.arpa", "reverse-mapping zone"),
        ("dv", "4.3.2.1.ip6.arpa", "reverse-mapping zone"),
        ("dv", "nas.home.arpa", "special-use"),
        ("dv", "hidden.onion", "special-use"),
        ("dv", "printer.internal", "special-use"),
    ],
)
def test_rest_reverse_zone_and_special_use_names_refused(
    client: httpx.Client, kind: str, name: str, says: str
) -> None:
    _key, csr = make_csr([name])
    doc = _problem(_submit(client, csr, kind), 400)
    assert doc["type"].endswith(":rejectedIdentifier") and says in doc["detail"]


def test_rest_caa_for_another_ca_stops_issuance(
    client: httpx.Client, va_web: FileServer, va_dns: TestDNS, padlock_server: PadlockServer
) -> None:
    va_dns.zone.add_caa("caa-other.example.com", "issue", "other-ca.example")
    _key, csr = make_csr(["www.caa-other.example.com"])
    doc = _submit(client, csr, "dv").json()
    ch = doc["challenges"][0]
    va_web.files[f"/.well-known/pki-validation/{ch['token']}.txt"] = ch["token"].encode()
    got = client.post(f"/api/v1/requests/{doc['id']}/validate").json()
    assert got["challenges"][0]["state"] == "valid"
    assert got["state"] == "validating" and got["certificate"] is None
    assert "CAA" in got["problem"] and "other-ca.example" in got["problem"]
    caa = [v for v in got["validations"] if v["method"] == "caa"]
    assert caa and caa[-1]["ok"] is False and caa[-1]["problem"] == "caa"
    assert got["timeline"][-1]["action"] == "blocked"
    assert client.get(f"/api/v1/requests/{doc['id']}/certificate").status_code == 409

    # The owner names this CA: the next check issues.
    va_dns.zone.add_caa("caa-other.example.com", "issue", CAA_IDENTITY)
    assert client.post(f"/api/v1/requests/{doc['id']}/validate").json()["state"] == "issued"

    # A CAA lookup that fails stops issuance too (BR 3.2.2.8: fail closed).
    # (The CAA lookup climbs from www.caa-broken... to its parent, which fails.)
    va_dns.zone.servfail.add("caa-broken.example.com")
    _key, csr = make_csr(["www.caa-broken.example.com"])
    broken = _submit(client, csr, "dv").json()
    ch = broken["challenges"][0]
    va_web.files[f"/.well-known/pki-validation/{ch['token']}.txt"] = ch["token"].encode()
    got = client.post(f"/api/v1/requests/{broken['id']}/validate").json()
    assert got["certificate"] is None and "CAA" in (got["problem"] or "")

    metrics = client.get("/metrics").text
    assert 'padlock_validations_total{method="caa",outcome="failed"}' in metrics


# --------------------------------------------------------------------------- ov


def test_rest_ov_documents_review_and_issue(
    client: httpx.Client,
    va_dns: TestDNS,
    padlock_server: PadlockServer,
    smtp: TestSMTP,
) -> None:
    _key, csr = make_csr(["shop.ovorg.example.com"])
    org = {"organization": "Widgets Ltd", "locality": "Leeds", "country": "GB"}
    resp = _submit(client, csr, "ov", contact="ov-owner@example.com", organization=org)
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    rid = doc["id"]
    assert doc["organization"]["organization"] == "Widgets Ltd"
    assert doc["links"]["documents"].endswith(f"/api/v1/requests/{rid}/documents")

    up = client.post(
        f"/api/v1/requests/{rid}/documents",
        files={"file": ("company registration.pdf", PDF, "application/octet-stream")},
    )
    assert up.status_code == 201, up.text
    meta = up.json()
    assert meta["content_type"] == "application/pdf" and meta["size"] == len(PDF)
    assert meta["filename"] == "company registration.pdf"
    png = client.post(
        f"/api/v1/requests/{rid}/documents", files={"file": ("scan.png", PNG, "image/png")}
    )
    assert png.status_code == 201 and png.json()["content_type"] == "image/png"

    # Stored outside any web root, under a random name, readable by the CA only.
    stored = sorted((padlock_server.data_dir / "documents" / rid).iterdir())
    assert len(stored) == 2
    assert all("registration" not in p.name and "scan" not in p.name for p in stored)
    assert {p.stat().st_mode & 0o777 for p in stored} == {0o600}
    assert PDF in {p.read_bytes() for p in stored}

    va_dns.zone.add_txt(doc["challenges"][0]["dns_record"], doc["challenges"][0]["token"])
    review = client.post(f"/api/v1/requests/{rid}/validate").json()
    assert review["state"] == "in_review" and review["certificate"] is None
    assert review["contact_person"] is None
    assert client.get("/metrics").text.count("padlock_review_queue_length 1") == 1

    alice = Reviewer("alice", "Alice Example", "alice@ca.padlock.example")
    with server_enrollment(padlock_server) as svc:
        assert rid in [s.id for s in svc.queue()]
        fetched_doc, content = svc.document(rid, meta["id"])
        assert content == PDF and fetched_doc.filename == "company registration.pdf"
        svc.assign(rid, alice)
        seen = client.get(f"/api/v1/requests/{rid}").json()
        assert seen["contact_person"] == {
            "name": "Alice Example",
            "email": "alice@ca.padlock.example",
        }
        svc.approve(rid, alice, Organization("Widgets Limited", "Leeds", None, "GB"))

    done = client.get(f"/api/v1/requests/{rid}").json()
    assert done["state"] == "issued"
    assert done["verified_organization"]["organization"] == "Widgets Limited"
    actions = [t["action"] for t in done["timeline"]]
    assert actions[:3] == ["submitted", "document", "document"]
    assert actions[-3:] == ["assigned", "approved", "issued"]
    pem = client.get(f"/api/v1/requests/{rid}/certificate").content
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Widgets Limited"
    )
    # Documents can no longer be added once issued.
    late = client.post(f"/api/v1/requests/{rid}/documents", files={"file": ("a.pdf", PDF)})
    _problem(late, 409)

    subjects = [m.subject for m in smtp.wait_for("ov-owner@example.com", 4)]
    assert any("in review" in s for s in subjects)
    assert any("Alice Example" in s for s in subjects)
    assert any("issued" in s for s in subjects)


def test_rest_ov_rejection_is_final(
    client: httpx.Client, padlock_server: PadlockServer, smtp: TestSMTP
) -> None:
    _key, csr = make_csr(["rejected.ovorg.example.com"])
    org = {"organization": "Dubious Inc", "state": "Nevada", "country": "US"}
    doc = _submit(client, csr, "ov", contact="rej@example.com", organization=org).json()
    with server_enrollment(padlock_server) as svc:
        svc.reject(doc["id"], Reviewer("bob", "Bob"), "The registration number does not exist.")
    got = client.get(f"/api/v1/requests/{doc['id']}").json()
    assert got["state"] == "rejected"
    assert got["rejection_reason"] == "The registration number does not exist."
    assert got["contact_person"]["name"] == "Bob"
    _problem(client.post(f"/api/v1/requests/{doc['id']}/validate"), 409)
    _problem(client.get(f"/api/v1/requests/{doc['id']}/certificate"), 409)
    mails = smtp.wait_for("rej@example.com", 2)
    assert "registration number does not exist" in mails[-1].body


# --------------------------------------------------------------------------- uploads


@pytest.fixture
def ov_request(client: httpx.Client) -> str:
    _key, csr = make_csr(["docs.ovorg.example.com"])
    org = {"organization": "Docs Ltd", "locality": "York", "country": "GB"}
    rid: str = _submit(client, csr, "ov", organization=org).json()["id"]
    return rid


@pytest.mark.parametrize(
    "content",
    [
        b"MZ\x90\x00 a windows program",
        b"<html><script>alert(1)</script></html>",
        b"GIF89a....",
        b"PK\x03\x04 zip",
    ],
)
def test_rest_upload_wrong_type_refused(
    client: httpx.Client, ov_request: str, content: bytes
) -> None:
    resp = client.post(
        f"/api/v1/requests/{ov_request}/documents",
        files={"file": ("registration.pdf", content, "application/pdf")},
    )
    doc = _problem(resp, 415)
    assert "PDF, PNG or JPEG" in doc["detail"]


def test_rest_upload_too_large_refused(client: httpx.Client, ov_request: str) -> None:
    big = PDF + b"\x00" * (10 * 1024 * 1024)
    resp = client.post(
        f"/api/v1/requests/{ov_request}/documents",
        files={"file": ("big.pdf", big, "application/pdf")},
    )
    _problem(resp, 413)


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd.pdf",
        "..\\..\\boot.ini.pdf",
        "/etc/cron.d/x.pdf",
        "a/../../b.pdf",
        "..",
        ".htaccess",
        "C:evil.pdf",
        "%2e%2e%2fx.pdf",
        "nul\x00.pdf",
        "",
    ],
)
def test_rest_upload_path_tricks_refused(
    client: httpx.Client, ov_request: str, padlock_server: PadlockServer, name: str
) -> None:
    resp = client.post(
        f"/api/v1/requests/{ov_request}/documents", files={"file": (name, PDF, "application/pdf")}
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    folder = padlock_server.data_dir / "documents" / ov_request
    assert not folder.exists() or not list(folder.iterdir())


def test_rest_upload_refused_for_dv_and_needs_multipart(
    client: httpx.Client, ov_request: str
) -> None:
    _key, csr = make_csr(["nodocs.example.com"])
    dv = _submit(client, csr, "dv").json()
    _problem(
        client.post(f"/api/v1/requests/{dv['id']}/documents", files={"file": ("a.pdf", PDF)}), 400
    )
    _problem(
        client.post(
            f"/api/v1/requests/{ov_request}/documents",
            content=PDF,
            headers={"content-type": "application/pdf"},
        ),
        415,
    )
    _problem(
        client.post(f"/api/v1/requests/{ov_request}/documents", files={"other": ("a.pdf", PDF)}),
        400,
    )


# --------------------------------------------------------------------------- ids


def test_rest_requests_are_reached_only_by_their_id(client: httpx.Client) -> None:
    _k1, csr1 = make_csr(["alice.example.com"])
    _k2, csr2 = make_csr(["bob.example.com"])
    alice = _submit(client, csr1, "dv", contact="alice@example.com").json()
    bob = _submit(client, csr2, "dv", contact="bob@example.com").json()
    assert alice["id"] != bob["id"]
    # Nothing lists requests.
    listing = client.get("/api/v1/requests")
    assert listing.status_code in (404, 405)
    assert alice["id"] not in listing.text and bob["id"] not in listing.text
    # An id one character off, a prefix, or made up reaches nothing.
    near = alice["id"][:-1] + ("A" if alice["id"][-1] != "A" else "B")
    for guess in (near, alice["id"][:20], "0" * 32, "../" + alice["id"], "%2e%2e"):
        _problem(client.get(f"/api/v1/requests/{guess}"), 404)
        _problem(client.post(f"/api/v1/requests/{guess}/validate"), 404)
        _problem(client.get(f"/api/v1/requests/{guess}/certificate"), 404)
        resp = client.post(f"/api/v1/requests/{guess}/documents", files={"file": ("a.pdf", PDF)})
        _problem(resp, 404)
    # Bob's view shows nothing of Alice.
    assert "alice" not in client.get(f"/api/v1/requests/{bob['id']}").text


# --------------------------------------------------------------------------- bad input


def test_rest_private_key_pasted_is_refused_and_never_kept(
    client: httpx.Client, padlock_server: PadlockServer
) -> None:
    key, _csr = make_csr(["leak.example.com"])
    pem = key_pem(key)
    for kind in ("test", "dv"):
        doc = _problem(_submit(client, pem, kind), 400)
        assert "private key" in doc["detail"] and "not stored" in doc["detail"]
        assert pem not in json.dumps(doc)
    # A CSR with the key pasted after it is refused the same way.
    _k, csr = make_csr(["leak.example.com"], key)
    doc = _problem(_submit(client, csr + pem), 400)
    assert "private key" in doc["detail"]
    client.get("/healthz")
    body = "".join(pem.strip().splitlines()[1:-1])
    fragments = [body[i : i + 40] for i in (0, 40, 80)]
    for path in padlock_server.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(f.encode() in data for f in fragments), path
    log = padlock_server.log()
    assert "PRIVATE KEY" not in log and not any(f in log for f in fragments)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {
                "csr": BROKEN_CSR,
                "kind": "test",
                "contact": "a@example.com",
            },
            400,
            "CSR",
        ),
        ({"csr": "hello", "kind": "test", "contact": "a@example.com"}, 400, "CSR"),
        ({"csr": "", "kind": "test", "contact": "a@example.com"}, 400, "CSR"),
        ({"kind": "test", "contact": "a@example.com"}, 400, "csr"),
        ({"csr": "x", "contact": "a@example.com"}, 400, "kind"),
        ({"csr": "x", "kind": "test"}, 400, "contact"),
        ({"csr": "x", "kind": "ev", "contact": "a@example.com"}, 400, "kind"),
        ({"csr": "x", "kind": "test", "contact": "a@example.com", "extra": 1}, 400, "extra"),
        ({"csr": "x", "kind": 5, "contact": "a@example.com"}, 400, "kind"),
        ({"csr": ["x"], "kind": "test", "contact": "a@example.com"}, 400, "csr"),
        ([1, 2, 3], 400, "body"),
        ("just a string", 400, "body"),
        (None, 400, "body"),
    ],
)
def test_rest_bad_submissions_are_problem_documents(
    client: httpx.Client, body: Any, status: int, words: str
) -> None:
    resp = client.post(
        "/api/v1/requests", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    doc = _problem(resp, status)
    assert words.lower() in doc["detail"].lower()


def test_rest_bad_fields_with_a_good_csr(client: httpx.Client) -> None:
    _key, csr = make_csr(["fields.example.com"])
    doc = _problem(_submit(client, csr, "test", contact="not an email"), 400)
    assert "email" in doc["detail"]
    doc = _problem(
        _submit(client, csr, "test", contact="a@example.com\r\nBcc: x@evil.example"), 400
    )
    doc = _problem(_submit(client, csr, "ov"), 400)
    assert "organization" in doc["detail"]
    doc = _problem(
        _submit(client, csr, "ov", organization={"organization": "X", "country": "GB"}), 400
    )
    assert "locality" in doc["detail"]
    doc = _problem(
        _submit(
            client, csr, "ov", organization={"organization": "X", "locality": "Y", "country": "ZZ"}
        ),
        400,
    )
    doc = _problem(
        _submit(
            client, csr, "dv", organization={"organization": "X", "locality": "Y", "country": "GB"}
        ),
        400,
    )
    assert "ov" in doc["detail"]
    _k, ip_csr = make_csr(["8.8.8.8"])
    _problem(_submit(client, ip_csr, "dv"), 400)
    _k, internal = make_csr(["intranet.local"])
    _problem(_submit(client, internal, "dv"), 400)
    _problem(_submit(client, csr, "dv", previous_request="x" * 40), 404)


def test_rest_wrong_content_types_and_broken_json(client: httpx.Client) -> None:
    _key, csr = make_csr(["ctype.example.com"])
    body = json.dumps({"csr": csr, "kind": "test", "contact": "a@example.com"})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml", ""):
        headers = {"content-type": ctype} if ctype else {}
        _problem(client.post("/api/v1/requests", content=body, headers=headers), 415)
    for broken in (b"{", b'{"csr": ', b"\xff\xfe\x00", b"", b"nul\x00"):
        resp = client.post(
            "/api/v1/requests", content=broken, headers={"content-type": "application/json"}
        )
        _problem(resp, 400)
    # The certificate endpoint refuses unknown formats plainly.
    doc = _problem(
        client.get("/api/v1/requests/" + "A" * 32 + "/certificate", params={"format": "pfx"}), 400
    )
    assert "format" in doc["detail"]


def test_rest_huge_bodies_are_413(client: httpx.Client, padlock_server: PadlockServer) -> None:
    huge = json.dumps({"csr": "A" * 200_000, "kind": "test", "contact": "a@example.com"})
    _problem(
        client.post("/api/v1/requests", content=huge, headers={"content-type": "application/json"}),
        413,
    )

    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    resp = client.post(
        "/api/v1/requests", content=chunks(), headers={"content-type": "application/json"}
    )
    _problem(resp, 413)
    # A declared length far above the limit is refused before a byte of it is read.
    host, port = padlock_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
        )
        answer = raw.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413")
    assert client.get("/healthz").status_code == 200
    assert "Traceback" not in padlock_server.log()


def test_rest_revoked_certificate_shows_and_still_downloads(client: httpx.Client) -> None:
    _key, csr = make_csr(["revoked.example.com"])
    doc = _submit(client, csr).json()
    pem = client.get(f"/api/v1/requests/{doc['id']}/certificate").content
    resp = client.post(f"/api/v1/requests/{doc['id']}/revoke", json={"reason": "keyCompromise"})
    assert resp.status_code == 200, resp.text
    got = client.get(f"/api/v1/requests/{doc['id']}").json()
    assert got["state"] == "issued"
    assert got["certificate"]["state"] == "revoked"
    assert got["certificate"]["revoked_at"] and got["certificate"]["revocation_reason"]
    # Fetching works forever, revoked or not.
    assert client.get(f"/api/v1/requests/{doc['id']}/certificate").content == pem
