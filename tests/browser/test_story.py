"""The seed's story in a real browser (headless chromium), against a real ``padlock serve``.

The site owner pastes a CSR (the live preview first catches the seed's http:// mistake),
gets a test certificate at once and downloads it; then asks for an OV certificate, proves
control of the name with the HTTP file (served by the test's loopback web server), sends a
document; a reviewer logs into the console and approves with the verified organization;
the applicant's status page shows it issued, with the contact person, and fetches it.

With PADLOCK_SCREENSHOTS=1 each page is saved to docs/screenshots/ for the user guide.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Shots
from tests.conftest import PADLOCK_BIN
from tests.support.httpfiles import FileServer
from tests.web.conftest import PadlockServer, key_pem, make_csr

WAIT_MS = 20_000
REVIEWER_PASSWORD = "correct horse battery staple"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _bad_csr(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Widgets Inc."),
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _add_reviewer(server: PadlockServer, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(REVIEWER_PASSWORD + "\n")
    done = subprocess.run(
        [
            str(PADLOCK_BIN),
            "review",
            "add-user",
            "alice",
            "--role",
            "reviewer",
            "--display-name",
            "Alice Liddell",
            "--email",
            "alice@ca.padlock.example",
            "--password-file",
            str(secret),
            "--data-dir",
            str(server.data_dir),
        ],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_story_test_certificate_then_ov_approved(
    browser: Browser,
    padlock_server: PadlockServer,
    va_web: FileServer,
    shots: Shots,
    tmp_path: Path,
) -> None:
    base = padlock_server.url
    applicant = browser.new_context(
        base_url=base, viewport={"width": 1200, "height": 860}, accept_downloads=True
    )
    applicant.set_default_timeout(WAIT_MS)
    page = applicant.new_page()

    # --- the home page ------------------------------------------------------------------
    page.goto("/")
    expect(page.get_by_role("heading", name="Certificates for your web server")).to_be_visible()
    shots(page, "01-home")

    # --- a test certificate (seed section 5) --------------------------------------------
    page.get_by_role("link", name="Get a test certificate").click()
    expect(page).to_have_url(f"{base}/test")
    textarea = page.locator("#csr")

    # The seed's mistake: http:// and a path in the Common Name. The live preview says so.
    textarea.fill(_bad_csr("http://www.example.com/checkout"))
    analysis = page.locator("#csr-analysis")
    expect(analysis).to_contain_text("cannot be used as it is")
    expect(analysis).to_contain_text("not a host name")
    expect(analysis).to_contain_text("'www.example.com'")
    shots(page, "02-csr-mistake")

    # A private key pasted by mistake is caught in the page: never sent, the field cleared.
    key, _ = make_csr()
    textarea.fill(key_pem(key))
    expect(analysis).to_contain_text("This is a private key, not a CSR.")
    expect(textarea).to_have_value("")

    key, csr = make_csr(("www.example.com", "example.com"))
    textarea.fill(csr)
    expect(analysis).to_contain_text("This CSR can be sent.")
    expect(analysis).to_contain_text("www.example.com")
    expect(analysis).to_contain_text("ECDSA P-256")
    page.get_by_label("Your email address").fill("webmaster@example.com")
    shots(page, "03-test-form")
    page.get_by_role("button", name="Get test certificate").click()

    # The fetch page: download buttons and the Apache lines.
    expect(page.get_by_role("heading", name=re.compile("Your certificate for"))).to_be_visible()
    expect(page.locator("#test-note")).to_contain_text("test certificate, valid for 21 days")
    expect(page.locator("#apache")).to_contain_text("SSLCertificateFile")
    shots(page, "04-fetch-test")
    with page.expect_download() as info:
        page.locator("#download-chain").click()
    download = info.value
    assert download.suggested_filename == "www.example.com.fullchain.pem"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    chain = x509.load_pem_x509_certificates(saved.read_bytes())
    assert chain[0].public_key().public_numbers() == key.public_key().public_numbers()
    assert len(chain) >= 2

    # --- the roots page ------------------------------------------------------------------
    page.get_by_role("link", name="Roots", exact=True).click()
    expect(page.get_by_role("heading", name="Trust the test root")).to_be_visible()
    shots(page, "05-roots")

    # --- a trusted OV certificate (seed section 6) -----------------------------------------
    page.goto("/trusted")
    ov_key, ov_csr = make_csr(("www.widgets.example.com",))
    page.locator("#csr").fill(ov_csr)
    page.get_by_label(re.compile("Organization validated")).check()
    expect(page.locator("#org-fields")).to_be_visible()
    page.get_by_label("Your email address").fill("webmaster@widgets.example.com")
    page.get_by_label("Legal name").fill("Widgets")
    page.get_by_label(re.compile("City")).fill("Dallas")
    page.get_by_label("State or province").fill("Texas")
    page.get_by_label(re.compile("Country")).fill("US")
    expect(page.locator("#csr-analysis")).to_contain_text("reviewer verifies")
    shots(page, "06-trusted-form")
    page.get_by_role("button", name="Send request").click()

    # The status page: the checks to do, with copy-paste instructions.
    expect(page.locator("#state")).to_have_text("submitted")
    status_url = page.url
    challenges = page.locator("#challenges")
    expect(challenges).to_contain_text("_pki-validation.www.widgets.example.com")
    text = challenges.inner_text()
    found = re.search(
        r"http://www\.widgets\.example\.com(/\.well-known/pki-validation/([A-Za-z0-9_-]+)\.txt)",
        text,
    )
    assert found, text
    path, token = found.group(1), found.group(2)
    shots(page, "07-status-checks")

    # "Check again" before the file is there: not yet; then with the file: proven.
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#check-result")).to_contain_text("Not every name could be confirmed")
    va_web.files[path] = token.encode()
    try:
        page.get_by_role("button", name="Check again").click()
        expect(page.locator("#state")).to_have_text("in review")
    finally:
        del va_web.files[path]
    page.locator("#document").set_input_files(
        files=[{"name": "registration.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#documents")).to_contain_text("registration.pdf")
    expect(page.locator("#contact-person")).to_contain_text("A reviewer will be assigned")
    shots(page, "08-status-in-review")

    # --- the reviewer (the CA's side) ---------------------------------------------------------
    _add_reviewer(padlock_server, tmp_path)
    staff = browser.new_context(base_url=base, viewport={"width": 1200, "height": 860})
    staff.set_default_timeout(WAIT_MS)
    console = staff.new_page()
    console.goto("/review")
    expect(console).to_have_url(re.compile(r"/review/login\?next="))
    console.get_by_label("Login name").fill("alice")
    console.get_by_label("Password").fill(REVIEWER_PASSWORD)
    shots(console, "09-review-login")
    console.get_by_role("button", name="Log in").click()
    expect(console.locator("#queue")).to_contain_text("www.widgets.example.com")
    shots(console, "10-review-queue")
    console.get_by_role("link", name="www.widgets.example.com").click()
    expect(console.locator("#evidence")).to_contain_text("proven")
    console.get_by_role("button", name="Assign to me").click()
    expect(console.locator("#done")).to_contain_text("Assigned to you")
    # Prefilled with the claim; the reviewer enters the legal name as verified.
    expect(console.get_by_label("Organization (O)")).to_have_value("Widgets")
    console.get_by_label("Organization (O)").fill("Widgets Inc.")
    console.get_by_label("I checked these details against the documents.").check()
    shots(console, "11-review-request")
    console.get_by_role("button", name="Approve and issue").click()
    expect(console.locator("#done")).to_contain_text("Approved.")
    expect(console.locator("#state")).to_have_text("issued")
    shots(console, "12-review-approved")

    # --- back to the applicant: issued (seed section 8) -----------------------------------------
    page.goto(status_url)
    expect(page.locator("#state")).to_have_text("issued")
    expect(page.locator("#contact-person")).to_contain_text("Alice Liddell")
    expect(page.locator("#contact-person")).to_contain_text("alice@ca.padlock.example")
    shots(page, "13-status-issued")
    page.get_by_role("link", name="Fetch certificate").click()
    expect(page.locator("#apache")).to_contain_text(
        "SSLCertificateFile    /etc/ssl/certs/www.widgets.example.com.fullchain.pem"
    )
    shots(page, "14-fetch-ov")
    with page.expect_download() as info:
        page.locator("#download-pem").click()
    saved = tmp_path / "ov.crt"
    info.value.save_as(saved)
    cert = x509.load_pem_x509_certificate(saved.read_bytes())
    assert cert.public_key().public_numbers() == ov_key.public_key().public_numbers()
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in org] == ["Widgets Inc."]

    applicant.close()
    staff.close()


def test_story_without_javascript(browser: Browser, padlock_server: PadlockServer) -> None:
    """The form works without JavaScript: Check CSR re-renders with the analysis; submit."""
    context = browser.new_context(base_url=padlock_server.url, java_script_enabled=False)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/test")
    key, csr = make_csr(("nojs.example.com",))
    page.locator("#csr").fill(csr)
    page.get_by_label("Your email address").fill("webmaster@example.com")
    page.get_by_role("button", name="Check CSR").click()
    expect(page.locator("#csr-analysis")).to_contain_text("This CSR can be sent.")
    expect(page.locator("#csr-analysis")).to_contain_text("nojs.example.com")
    expect(page.locator("#csr")).to_have_value(re.compile("BEGIN CERTIFICATE REQUEST"))
    page.get_by_role("button", name="Get test certificate").click()
    expect(page.get_by_role("heading", name=re.compile("Your certificate for"))).to_be_visible()
    pem = page.locator("#certificate-pem").text_content() or ""
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    context.close()
