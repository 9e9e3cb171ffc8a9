"""The portal over HTTP against a real ``padlock serve``: pages, the CSR preview in plain words,
a pasted private key refused, the test and dv flows, the status page, fetch in four formats."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from padlock.pki import serials
from padlock.pki.keys import fingerprint
from tests.support.httpfiles import FileServer
from tests.web.conftest import PadlockServer, key_pem, make_csr, server_enrollment

CONTACT = "webmaster@example.com"


@pytest.fixture
def web(padlock_server: PadlockServer) -> httpx.Client:
    return padlock_server.client(follow_redirects=False)


def _csr_with_cn(cn: str, sans: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _preview(web: httpx.Client, csr: str, kind: str = "test") -> dict[str, Any]:
    response = web.post("/csr/preview", json={"csr": csr, "kind": kind})
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def _messages(analysis: dict[str, Any], level: str = "error") -> list[str]:
    return [
        f["message"] + " " + (f["hint"] or "") for f in analysis["findings"] if f["level"] == level
    ]


def _text(html: str) -> str:
    """The page's text, tags removed and entities undone, spaces collapsed."""
    import html as html_mod

    return " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/", ["Test certificate", "Trusted certificate", "Check status", "Root certificates"]),
        ("/test", ["Get a test certificate", "Your CSR", "Check CSR", "21 days"]),
        (
            "/trusted",
            ["Request a trusted certificate", "Domain validated", "Organization validated"],
        ),
        ("/status", ["Request number"]),
        (
            "/roots",
            [
                "Firefox",
                "Chrome",
                "/usr/local/share/ca-certificates",
                "update-ca-certificates",
                "security add-trusted-cert",
            ],
        ),
    ],
)
def test_portal_page_renders(web: httpx.Client, path: str, words: list[str]) -> None:
    response = web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = _text(response.text)
    for word in words:
        assert word in text, (path, word)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    # Nothing from another origin: no CDN, no external fonts or scripts.
    assert not re.search(r'(src|href)="(https?:)?//', response.text)


def test_portal_roots_page_links_root_files(
    web: httpx.Client, padlock_server: PadlockServer
) -> None:
    page = web.get("/roots").text
    for link in ("/roots/test.pem", "/roots/test.der", "/roots/trusted.pem", "/roots/trusted.der"):
        assert f'href="{link}"' in page
        assert web.get(link).status_code == 200
    root = x509.load_pem_x509_certificate(web.get("/roots/test.pem").content)
    assert root.fingerprint(hashes.SHA256()).hex(":").upper() in page


def test_portal_static_files(web: httpx.Client) -> None:
    css = web.get("/static/padlock.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text and "url(http" not in css.text
    assert web.get("/static/padlock.js").status_code == 200
    assert web.get("/static/..%2Fportal.py").status_code == 404
    assert web.get("/static/nothing.css").status_code == 404


# --------------------------------------------------------------------------- preview


def test_preview_shows_names_key_fingerprint(web: httpx.Client) -> None:
    key, csr = make_csr(("www.example.com", "example.com"))
    doc = _preview(web, csr)
    analysis = doc["analysis"]
    assert analysis["ok"] is True
    assert analysis["names"] == ["www.example.com", "example.com"]
    assert analysis["key"]["type"] == "ECDSA P-256"
    assert analysis["key"]["fingerprint"] == fingerprint(key.public_key())
    assert "www.example.com" in doc["html"] and fingerprint(key.public_key()) in doc["html"]
    assert _messages(analysis) == []


def test_preview_http_in_common_name_in_plain_words(web: httpx.Client) -> None:
    csr = _csr_with_cn("http://secure.example.com/checkout")
    analysis = _preview(web, csr)["analysis"]
    assert analysis["ok"] is False
    errors = _messages(analysis)
    assert errors, analysis
    first = errors[0]
    assert "not a host name" in first
    assert "without http://" in first
    assert "'secure.example.com'" in first  # says what to type instead


def test_preview_path_in_san(web: httpx.Client) -> None:
    csr = _csr_with_cn("secure.example.com", ("secure.example.com/checkout",))
    errors = _messages(_preview(web, csr)["analysis"])
    assert any("path" in e and "secure.example.com" in e for e in errors), errors


def test_preview_cn_not_among_sans_is_refused(web: httpx.Client) -> None:
    csr = _csr_with_cn("www.example.com", ("shop.example.com",))
    errors = _messages(_preview(web, csr)["analysis"])
    assert any("not among its subjectAltNames" in e for e in errors), errors


def test_preview_private_key_refused_and_not_echoed(web: httpx.Client) -> None:
    key, _csr = make_csr()
    pem = key_pem(key)
    doc = _preview(web, pem)
    assert doc["analysis"]["kind"] == "private_key"
    assert doc["analysis"]["ok"] is False
    assert "private key, not a CSR" in _messages(doc["analysis"])[0]
    body_line = pem.splitlines()[1]
    assert body_line not in str(doc)


def test_preview_certificate_instead_of_csr(web: httpx.Client) -> None:
    root = web.get("/roots/test.pem").text
    errors = _messages(_preview(web, root)["analysis"])
    assert any("certificate, not a CSR" in e for e in errors), errors


def test_preview_missing_begin_end_lines(web: httpx.Client) -> None:
    _key, csr = make_csr()
    body = "\n".join(csr.strip().splitlines()[1:-1])
    errors = _messages(_preview(web, body)["analysis"])
    assert any("BEGIN and END lines are missing" in e and "dashes" in e for e in errors)


def test_preview_empty_and_bad_requests(web: httpx.Client) -> None:
    assert _preview(web, "")["analysis"]["kind"] == "empty"
    assert web.post("/csr/preview", content=b"not json").status_code == 400
    assert web.post("/csr/preview", json={"csr": "x", "kind": "nope"}).status_code == 400
    assert web.post("/csr/preview", json=["x"]).status_code == 400
    huge = web.post("/csr/preview", json={"csr": "A" * 200_000})
    assert huge.status_code == 413


def test_preview_ov_says_organization_is_verified(web: httpx.Client) -> None:
    _key, csr = make_csr(("www.example.com",))
    infos = _messages(_preview(web, csr, "ov")["analysis"], "info")
    assert any("reviewer verifies" in i for i in infos)


def test_form_preview_without_javascript(web: httpx.Client) -> None:
    key, csr = make_csr(("www.example.com",))
    response = web.post(
        "/test", data={"csr": csr, "contact": CONTACT, "kind": "test", "action": "preview"}
    )
    assert response.status_code == 200
    text = _text(response.text)
    assert "This CSR can be sent." in text
    assert "www.example.com" in text and "ECDSA P-256" in text
    assert fingerprint(key.public_key()) in text
    assert csr.splitlines()[1] in response.text  # the pasted CSR stays in the form


def test_form_http_cn_shown_and_not_submitted(web: httpx.Client) -> None:
    csr = _csr_with_cn("http://secure.example.com/checkout")
    response = web.post("/test", data={"csr": csr, "contact": CONTACT, "action": "submit"})
    assert response.status_code == 400
    text = _text(response.text)
    assert "cannot be used as it is" in text
    assert "without http://" in text


def test_form_private_key_refused_with_warning(
    web: httpx.Client, padlock_server: PadlockServer
) -> None:
    key, _csr = make_csr()
    pem = key_pem(key)
    response = web.post("/test", data={"csr": pem, "contact": CONTACT, "action": "submit"})
    assert response.status_code == 400
    text = _text(response.text)
    assert "This is a private key, not a CSR. Never send your private key to anyone" in text
    assert "It was not stored" in text
    for line in pem.splitlines()[1:-1]:
        assert line not in response.text  # never shown again
        assert line not in padlock_server.log()  # nor logged


def test_form_origin_of_another_site_refused(web: httpx.Client) -> None:
    _key, csr = make_csr()
    response = web.post(
        "/test",
        data={"csr": csr, "contact": CONTACT, "action": "submit"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert "another site" in _text(response.text)


# --------------------------------------------------------------------------- test certificate


def test_test_certificate_flow_and_fetch_every_format(web: httpx.Client) -> None:
    key, csr = make_csr(("www.example.com", "example.com"))
    response = web.post(
        "/test", data={"csr": csr, "contact": CONTACT, "kind": "test", "action": "submit"}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/status/[A-Za-z0-9_-]{32,64}/certificate", location)
    request_id = location.split("/")[2]

    page = web.get(location)
    assert page.status_code == 200
    text = _text(page.text)
    assert "This is a test certificate, valid for 21 days." in text
    assert "SSLCertificateFile /etc/ssl/certs/www.example.com.fullchain.pem" in text
    assert "SSLCertificateKeyFile /etc/ssl/private/www.example.com.key" in text
    for fmt in ("pem", "chain", "der", "pkcs7"):
        assert f'href="/status/{request_id}/certificate.{fmt}"' in page.text

    pem = web.get(f"/status/{request_id}/certificate.pem")
    assert pem.status_code == 200
    assert 'filename="www.example.com.crt"' in pem.headers["content-disposition"]
    leaf = x509.load_pem_x509_certificate(pem.content)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]
    shown = serials.display(leaf.serial_number)  # as openssl x509 -serial prints it
    assert f'Serial <span class="mono">{shown}</span>' in page.text

    chain = x509.load_pem_x509_certificates(
        web.get(f"/status/{request_id}/certificate.chain").content
    )
    assert chain[0] == leaf and len(chain) >= 2
    assert chain[1].subject == leaf.issuer
    der = web.get(f"/status/{request_id}/certificate.der")
    assert der.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(der.content) == leaf
    p7 = pkcs7.load_der_pkcs7_certificates(
        web.get(f"/status/{request_id}/certificate.pkcs7").content
    )
    assert leaf in p7
    assert web.get(f"/status/{request_id}/certificate.zip").status_code == 404

    status = _text(web.get(f"/status/{request_id}").text)
    assert "Your certificate is issued." in status
    assert shown in status
    assert "Fetch certificate" in status
    assert "handled automatically" in status  # no contact person for a test certificate


def test_status_unknown_id_is_a_page_not_json(web: httpx.Client) -> None:
    response = web.get("/status/" + "A" * 32)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no request with that id." in _text(response.text)


def test_status_lookup_redirects(web: httpx.Client) -> None:
    response = web.get("/status", params={"id": " abc "})
    assert response.status_code == 303 and response.headers["location"] == "/status/abc"


# --------------------------------------------------------------------------- dv


def test_dv_status_page_instructions_check_again_and_issue(
    web: httpx.Client, padlock_server: PadlockServer, va_web: FileServer
) -> None:
    _key, csr = make_csr(("dv-portal.example.com",))
    response = web.post(
        "/trusted", data={"csr": csr, "contact": CONTACT, "kind": "dv", "action": "submit"}
    )
    assert response.status_code == 303
    status_url = response.headers["location"]
    request_id = status_url.rsplit("/", 1)[1]
    with server_enrollment(padlock_server) as svc:
        challenge = svc.get(request_id).challenges[0]

    page = web.get(status_url)
    text = _text(page.text)
    assert "Prove that you control this name" in text
    assert f"http://dv-portal.example.com/.well-known/pki-validation/{challenge.token}.txt" in text
    assert f'_pki-validation.dv-portal.example.com. 300 IN TXT "{challenge.token}"' in text
    assert "no person is assigned" in text
    # Fetch before issuance: a clear page, not a crash.
    early = web.get(f"{status_url}/certificate")
    assert early.status_code == 409 and "no certificate yet" in _text(early.text)

    checked = web.post(f"{status_url}/check")
    assert checked.status_code == 303
    again = _text(web.get(checked.headers["location"]).text)
    assert "Not every name could be confirmed yet." in again
    assert "Last check:" in again

    va_web.files[challenge.http_path] = challenge.token.encode()
    try:
        checked = web.post(f"{status_url}/check")
        assert checked.status_code == 303
    finally:
        del va_web.files[challenge.http_path]
    done = _text(web.get(status_url).text)
    assert "Your certificate is issued." in done
    assert "proven" in done
    assert web.get(f"{status_url}/certificate.pem").status_code == 200


def test_trusted_form_ov_without_organization_keeps_form(web: httpx.Client) -> None:
    _key, csr = make_csr(("ov-missing.example.com",))
    response = web.post(
        "/trusted", data={"csr": csr, "contact": CONTACT, "kind": "ov", "action": "submit"}
    )
    assert response.status_code == 400
    text = _text(response.text)
    assert "The request was not accepted." in text
    assert "organization" in text
    assert csr.splitlines()[1] in response.text


def test_trusted_form_refuses_test_kind(web: httpx.Client) -> None:
    _key, csr = make_csr()
    response = web.post("/trusted", data={"csr": csr, "contact": CONTACT, "kind": "test"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_upload_document_through_status_page(
    web: httpx.Client, padlock_server: PadlockServer
) -> None:
    _key, csr = make_csr(("ov-docs.example.com",))
    response = web.post(
        "/trusted",
        data={
            "csr": csr,
            "contact": CONTACT,
            "kind": "ov",
            "organization": "Widgets Inc.",
            "locality": "Dallas",
            "state": "Texas",
            "country": "US",
            "action": "submit",
        },
    )
    assert response.status_code == 303
    status_url = response.headers["location"]
    page = _text(web.get(status_url).text)
    assert "A reviewer will be assigned" in page
    assert "Widgets Inc., Dallas, Texas, US" in page and "not yet verified" in page
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    sent = web.post(
        f"{status_url}/documents",
        files={"document": ("registration.pdf", pdf, "application/pdf")},
    )
    assert sent.status_code == 303
    assert "registration.pdf" in _text(web.get(status_url).text)
    wrong = web.post(
        f"{status_url}/documents",
        files={"document": ("evil.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
    )
    assert wrong.status_code == 415
    assert "not a PDF, PNG or JPEG" in _text(wrong.text)
    tricky = web.post(
        f"{status_url}/documents",
        files={"document": ("../../etc/passwd.pdf", pdf, "application/pdf")},
    )
    assert tricky.status_code == 400
