"""A CA whose keys live in a PKCS#11 token (SoftHSM2): ``padlock ca init --pkcs11-module``
makes every key inside the token, never extractable; ``padlock serve`` against the token
issues through REST and ACME and signs CRLs and OCSP answers there (all checked by openssl);
a wrong PIN and a missing token are clear errors, and nothing is issued."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from padlock.acme import challenges as ch
from padlock.pki import lint
from tests.support.acme_client import Client
from tests.support.crl import crl_path
from tests.support.dnsserver import TestDNS, Zone
from tests.support.httpfiles import FileServer
from tests.support.padlock_server import Launched, launch
from tests.support.softhsm import PIN, SoftHsm, make_softhsm
from tests.support.terminal import on_a_terminal

PADLOCK = str(Path(sys.executable).parent / "padlock")
OPENSSL = "/usr/bin/openssl"
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@dataclass
class TokenCa:
    """A CA made in a SoftHSM2 token, and how to run padlock and openssl against it."""

    hsm: SoftHsm
    data: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
        return {**clean, **self.hsm.env, "PADLOCK_HSM_PIN_FILE": str(self.hsm.pin_file)}

    def padlock(
        self, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PADLOCK, *map(str, args)],
            env=env or self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def openssl(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPENSSL, *map(str, args)],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def ca_file(self, hierarchy: str, name: str) -> Path:
        return self.data / "ca" / hierarchy / name


def _init(hsm: SoftHsm, tmp: Path) -> TokenCa:
    ca = TokenCa(hsm, tmp / "data", tmp)
    made = ca.padlock(
        "ca", "init", "--data-dir", ca.data, "--name", "HSM Test CA",
        "--base-url", "http://ca.example.org",
        "--pkcs11-module", hsm.module, "--token-label", hsm.label,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Traceback" not in made.stderr
    return ca


@pytest.fixture
def token_ca(tmp_path: Path) -> TokenCa:
    return _init(make_softhsm(tmp_path / "hsm"), tmp_path)


def _csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(PEM)
    )


def _verified(ca: TokenCa, leaf: bytes, hierarchy: str, name: str) -> Path:
    """The leaf written to a file, after openssl verified it to the hierarchy's root."""
    path = ca.work / f"{name}.pem"
    path.write_bytes(leaf)
    done = ca.openssl(
        "verify", "-CAfile", ca.ca_file(hierarchy, "root.crt"),
        "-untrusted", ca.ca_file(hierarchy, "issuing.crt"), path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def test_pkcs11_init_makes_every_key_inside_the_token(token_ca: TokenCa) -> None:
    ca = token_ca
    assert not list(ca.data.rglob("*.key")), "no key file for a CA in a token"
    meta = (ca.data / "ca" / "ca.json").read_text()
    assert ca.hsm.label in meta and ca.hsm.module in meta
    for hierarchy in ("test", "trusted"):
        root, issuing = ca.ca_file(hierarchy, "root.crt"), ca.ca_file(hierarchy, "issuing.crt")
        assert ca.openssl("verify", "-CAfile", root, root).returncode == 0
        done = ca.openssl("verify", "-CAfile", root, issuing)
        assert done.returncode == 0, done.stdout + done.stderr
        responder = ca.openssl(
            "verify", "-CAfile", root, "-untrusted", issuing, ca.ca_file(hierarchy, "ocsp.crt")
        )
        assert responder.returncode == 0, responder.stderr
        for path, kind in ((root, lint.CertKind.ROOT), (issuing, lint.CertKind.INTERMEDIATE)):
            der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(DER)
            assert not lint.lint_serverauth(der, kind).errors, path


def test_pkcs11_private_keys_cannot_be_exported(token_ca: TokenCa) -> None:
    """C_GetAttributeValue of CKA_VALUE is refused (CKR_ATTRIBUTE_SENSITIVE) for every
    private key padlock made, each is never extractable, and wrapping it out fails."""
    script = """
keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
print("keys", len(keys))
wrapper = session.generate_key(pkcs11.KeyType.AES, 256, template={Attribute.WRAP: True})
for key in keys:
    assert key[Attribute.SENSITIVE] and key[Attribute.ALWAYS_SENSITIVE], key
    assert not key[Attribute.EXTRACTABLE] and key[Attribute.NEVER_EXTRACTABLE], key
    try:
        key[Attribute.VALUE]
    except p11.AttributeSensitive:
        print("value refused", key.label)
    else:
        raise SystemExit("CKA_VALUE was read")
    try:
        wrapper.wrap_key(key, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)
    except p11.PKCS11Error as err:
        print("wrap refused", type(err).__name__)
    else:
        raise SystemExit("the key was wrapped out")
"""
    done = token_ca.hsm.inspect(script)
    assert done.returncode == 0, done.stdout + done.stderr
    # two roots, two issuing CAs, two OCSP responders
    assert "keys 6" in done.stdout
    assert done.stdout.count("value refused") == 6
    assert done.stdout.count("wrap refused") == 6


@pytest.fixture
def served(token_ca: TokenCa) -> Iterator[tuple[TokenCa, Launched, FileServer, TestDNS]]:
    web = FileServer().start()
    dns = TestDNS(Zone()).start()
    env = {
        **token_ca.env,
        "PADLOCK_DATA_DIR": str(token_ca.data),
        "PADLOCK_BASE_URL": "http://127.0.0.1:0",
        "PADLOCK_VA_RESOLVER": dns.spec,
        "PADLOCK_VA_HTTP_PORT": str(web.port),
        "PADLOCK_REVOCATION_TICK": "1",
    }
    args = [PADLOCK, "serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2"]
    server = launch(args, env=env, log=token_ca.work / "serve.log", cwd=token_ca.work)
    try:
        yield token_ca, server, web, dns
    finally:
        server.stop(timeout=30)
        web.stop()
        dns.stop()
        log = (token_ca.work / "serve.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]


def _acme_issue(url: str, web: FileServer, name: str) -> bytes:
    """A test certificate through ACME: account, order, http-01 proven, finalize, download."""
    with httpx.Client(timeout=60) as http:
        client = Client(http, f"{url}/acme/test/directory")
        assert client.register().status_code == 201
        order = client.new_order([name])
        assert order.status_code == 201, order.text
        body, order_url = order.json(), order.headers["Location"]
        for authz_url in body["authorizations"]:
            chal = client.challenge_of(client.get(authz_url).json(), "http-01")
            web.files[ch.http01_path(chal["token"])] = client.key_authorization(
                chal["token"]
            ).encode()
            assert client.post(chal["url"], {}).status_code == 200
        csr = x509.load_pem_x509_csr(_csr(name)).public_bytes(DER)
        for _ in range(300):  # bounded: the order is ready once the challenge is checked
            state = client.get(order_url).json()
            if state["status"] != "pending":
                break
            time.sleep(0.05)
        assert state["status"] == "ready", state
        done = client.finalize(state, csr).json()
        for _ in range(300):
            if done["status"] == "valid":
                break
            time.sleep(0.05)
            done = client.get(order_url).json()
        assert done["status"] == "valid", done
        return client.get(done["certificate"]).content


def test_pkcs11_serve_issues_rest_and_acme_and_signs_crl_and_ocsp(
    served: tuple[TokenCa, Launched, FileServer, TestDNS],
) -> None:
    ca, server, web, _dns = served
    answer = httpx.post(
        f"{server.url}/api/v1/requests",
        json={
            "csr": _csr("rest.example.org").decode(),
            "kind": "test",
            "contact": "me@example.org",
        },
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    chain = httpx.get(
        f"{server.url}/api/v1/requests/{answer.json()['id']}/certificate?format=pem", timeout=60
    )
    rest_leaf = _verified(ca, chain.content, "test", "rest")
    acme_leaf = _verified(ca, _acme_issue(server.url, web, "acme.example.org"), "test", "acme")

    def ocsp(leaf: Path) -> subprocess.CompletedProcess[str]:
        return ca.openssl(
            "ocsp", "-issuer", ca.ca_file("test", "issuing.crt"), "-cert", leaf,
            "-url", f"{server.url}/ocsp/test-issuing", "-CAfile", ca.ca_file("test", "root.crt"),
        )  # fmt: skip

    for leaf in (rest_leaf, acme_leaf):
        good = ocsp(leaf)
        assert f"{leaf}: good" in good.stdout, good.stdout + good.stderr
        assert "Response verify OK" in good.stderr

    serial = format(x509.load_pem_x509_certificate(rest_leaf.read_bytes()).serial_number, "x")
    revoked = ca.padlock(
        "revoke", serial, "--reason", "keyCompromise", "--data-dir", ca.data, env=ca.env
    )
    assert revoked.returncode == 0, revoked.stderr
    answer_revoked = ocsp(rest_leaf)
    assert f"{rest_leaf}: revoked" in answer_revoked.stdout, answer_revoked.stdout
    assert "Response verify OK" in answer_revoked.stderr

    def crl_of(leaf: Path) -> Path:
        """The CRL the leaf names (its shard's), fetched, linted and checked as signed."""
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        crl_der = httpx.get(f"{server.url}{crl_path(cert)}", timeout=60).content
        assert not lint.lint_crl(crl_der).errors
        crl = ca.work / f"{leaf.stem}.crl.pem"
        crl.write_bytes(x509.load_der_x509_crl(crl_der).public_bytes(PEM))
        signed = ca.openssl(
            "crl", "-in", crl, "-noout", "-CAfile", ca.ca_file("test", "issuing.crt")
        )
        assert "verify OK" in signed.stderr + signed.stdout, signed.stderr
        return crl

    def crl_check(leaf: Path) -> subprocess.CompletedProcess[str]:
        return ca.openssl(
            "verify", "-crl_check", "-CRLfile", crl_of(leaf),
            "-CAfile", ca.ca_file("test", "root.crt"),
            "-untrusted", ca.ca_file("test", "issuing.crt"), leaf,
        )  # fmt: skip

    refused = crl_check(rest_leaf)
    assert "certificate revoked" in refused.stdout + refused.stderr
    still = crl_check(acme_leaf)
    assert still.returncode == 0, still.stdout + still.stderr


def test_pkcs11_trusted_root_signs_its_crl_in_the_token(token_ca: TokenCa) -> None:
    ca = token_ca
    out = ca.work / "trusted-root.crl"
    signed = ca.padlock(
        "ca", "sign-root-crl", "--hierarchy", "trusted", "--data-dir", ca.data, "-o", out
    )
    assert signed.returncode == 0, signed.stderr
    pem = ca.work / "arl.pem"
    pem.write_bytes(x509.load_der_x509_crl(out.read_bytes()).public_bytes(PEM))
    root = ca.ca_file("trusted", "root.crt")
    checked = ca.openssl("crl", "-in", pem, "-noout", "-CAfile", root)
    assert "verify OK" in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    assert not lint.lint_crl(out.read_bytes(), authority=True).errors


def test_pkcs11_new_issuer_makes_its_key_in_the_token_and_issues(token_ca: TokenCa) -> None:
    """ca new-issuer on a CA in a token: the root signs the new issuing CA in the token, the
    new key is made there (no key file), and the next certificate chains to it."""
    ca = token_ca
    made = ca.padlock("ca", "new-issuer", "--hierarchy", "test", "--data-dir", ca.data)
    assert made.returncode == 0, made.stderr
    assert not list(ca.data.rglob("*.key"))
    root, issuing2 = ca.ca_file("test", "root.crt"), ca.ca_file("test", "issuing-2.crt")
    checked = ca.openssl("verify", "-CAfile", root, issuing2)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    csr = ca.work / "n.csr"
    csr.write_bytes(_csr("next.example.org"))
    leaf = ca.work / "next.pem"
    issued = ca.padlock("ca", "issue", csr, "--data-dir", ca.data, "-o", leaf)
    assert issued.returncode == 0, issued.stderr
    chained = ca.openssl("verify", "-CAfile", root, "-untrusted", issuing2, leaf)
    assert chained.returncode == 0, chained.stdout + chained.stderr


def _listed(ca: TokenCa) -> str:
    return ca.padlock("ca", "list", "--data-dir", ca.data, "--json").stdout


def test_pkcs11_wrong_pin_is_a_clear_error_and_nothing_is_issued(token_ca: TokenCa) -> None:
    ca = token_ca
    csr = ca.work / "w.csr"
    csr.write_bytes(_csr("wrong-pin.example.org"))
    wrong = {**ca.env, "PADLOCK_HSM_PIN": "999999"}
    wrong.pop("PADLOCK_HSM_PIN_FILE")
    before = _listed(ca)
    issued = ca.padlock("ca", "issue", csr, "--data-dir", ca.data, env=wrong)
    assert issued.returncode != 0
    assert "PIN of the token 'padlock-ca' is wrong" in issued.stderr, issued.stderr
    assert "Traceback" not in issued.stderr
    served = ca.padlock("serve", "--port", "0", "--data-dir", ca.data, env=wrong)
    assert served.returncode != 0
    assert "is wrong" in served.stderr and "Traceback" not in served.stderr, served.stderr
    assert _listed(ca) == before  # nothing reserved, nothing issued
    right = ca.padlock("ca", "issue", csr, "--data-dir", ca.data)
    assert right.returncode == 0, right.stderr


def test_pkcs11_token_missing_at_start_is_a_clear_error(token_ca: TokenCa) -> None:
    ca = token_ca
    ca.hsm.remove_tokens()
    served = ca.padlock("serve", "--port", "0", "--data-dir", ca.data)
    assert served.returncode != 0
    assert "There is no token labelled 'padlock-ca'" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr
    no_module = {**ca.env}
    meta = ca.data / "ca" / "ca.json"
    meta.write_text(meta.read_text().replace(ca.hsm.module, "/nonexistent/libpkcs11.so"))
    failed = ca.padlock("serve", "--port", "0", "--data-dir", ca.data, env=no_module)
    assert "cannot be loaded" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr


def test_pkcs11_init_asks_the_pin_on_a_terminal(tmp_path: Path) -> None:
    hsm = make_softhsm(tmp_path / "hsm")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    data = tmp_path / "d"
    args = [PADLOCK, "ca", "init", "--data-dir", str(data), "--pkcs11-module", hsm.module,
            "--token-label", hsm.label]  # fmt: skip
    status, output = on_a_terminal(args, {**env, **hsm.env}, {b"PIN of the token": [PIN]})
    assert status == 0, output
    assert f"PIN of the token '{hsm.label}': " in output
    assert PIN not in output  # not echoed
    assert f"every key is in the token '{hsm.label}'" in output
    assert (data / "ca" / "ca.json").exists() and not list(data.rglob("*.key"))


def test_pkcs11_init_refuses_a_missing_pin_without_a_terminal(tmp_path: Path) -> None:
    hsm = make_softhsm(tmp_path / "hsm")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADLOCK_")}
    done = subprocess.run(
        [PADLOCK, "ca", "init", "--data-dir", tmp_path / "d", "--pkcs11-module", hsm.module,
         "--token-label", hsm.label],
        env={**env, **hsm.env}, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode != 0
    assert "No PIN for the token" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d" / "ca" / "ca.json").exists()
