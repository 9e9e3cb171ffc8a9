"""The PKI base URL: ``ca init --pki-base-url/--country``, ``ca set-pki-url`` repairing a CA
made with an https base URL, and what ``padlock doctor`` says of the URLs in certificates;
the revocation choices of ``ca init`` (CRL shards, OCSP) and ``ca set-ocsp``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from tests.ca.conftest import build_csr
from tests.conftest import Result
from tests.support.ports import free_port

Run = Callable[..., Result]
CA_ENV = {"PADLOCK_CA_PASSPHRASE": "pki url pass phrase"}


def _init(padlock_proc: Run, data: Path, *args: str) -> Result:
    res = padlock_proc("ca", "init", "--data-dir", data, *args, env=CA_ENV)
    assert res.rc == 0, res.err
    return res


def _urls(cert: x509.Certificate) -> list[str]:
    """Every URL a relying party follows: AIA (OCSP, caIssuers) and CRL DP."""
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    crldp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    found = [str(d.access_location.value) for d in aia]
    found += [str(n.value) for p in crldp for n in (p.full_name or [])]
    return found


def _issue_dv(padlock_proc: Run, data: Path, tmp_path: Path, out: str = "dv.crt") -> Result:
    csr = tmp_path / "req.csr"
    csr.write_bytes(build_csr(["www.example.com"]))
    return padlock_proc(
        "ca", "issue", csr, "--profile", "dv", "--i-have-validated", "-o", tmp_path / out,
        "--data-dir", data, env=CA_ENV,
    )  # fmt: skip


def _as_made_before_pki_urls(data: Path, base_url: str) -> None:
    """ca.json as padlock wrote it before the PKI base URL existed: base_url only."""
    meta_path = data / "ca" / "ca.json"
    meta = json.loads(meta_path.read_text())
    del meta["pki_base_url"]
    meta["base_url"] = base_url
    meta_path.write_text(json.dumps(meta))


def test_ca_init_https_base_url_gives_http_pki_urls(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = _init(padlock_proc, data, "--base-url", "https://ca.example.com:8443")
    assert "certificates point at: http://ca.example.com " in res.out
    meta = json.loads((data / "ca" / "ca.json").read_text())
    assert meta["base_url"] == "https://ca.example.com:8443"
    assert meta["pki_base_url"] == "http://ca.example.com"
    issuing = x509.load_pem_x509_certificate((data / "ca/trusted/issuing.crt").read_bytes())
    assert _urls(issuing) == [
        "http://ca.example.com/ca/trusted-root.der",
        "http://ca.example.com/crl/trusted-root.crl",
    ]
    assert _issue_dv(padlock_proc, data, tmp_path).rc == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "dv.crt").read_bytes())
    assert all(u.startswith("http://ca.example.com/") for u in _urls(leaf)), _urls(leaf)


def test_ca_init_pki_base_url_and_country(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _init(
        padlock_proc, data, "--base-url", "https://acme.example.com",
        "--pki-base-url", "http://pki.example.com:8081", "--country", "de", "--ocsp",
    )  # fmt: skip
    assert json.loads((data / "ca/ca.json").read_text())["pki_base_url"] == (
        "http://pki.example.com:8081"
    )
    for path in ("test/root.crt", "test/issuing.crt", "trusted/root.crt", "trusted/issuing.crt"):
        cert = x509.load_pem_x509_certificate((data / "ca" / path).read_bytes())
        country = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        assert [a.value for a in country] == ["DE"], path
    assert _issue_dv(padlock_proc, data, tmp_path).rc == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "dv.crt").read_bytes())
    ocsp = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [
        str(d.access_location.value)
        for d in ocsp
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ] == ["http://pki.example.com:8081/ocsp/trusted-issuing"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--country", "UK"), "GB"),
        (("--country", "Germany"), "ISO 3166"),
        (("--pki-base-url", "https://pki.example.com"), "plain http://"),
        (("--pki-base-url", "ftp://pki.example.com"), "plain http://"),
    ],
)
def test_ca_init_refuses_bad_country_and_pki_url(
    padlock_proc: Run, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    res = padlock_proc("ca", "init", "--data-dir", tmp_path / "data", *args, env=CA_ENV)
    assert res.rc == 1 and says in res.err, res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "data" / "ca" / "ca.json").exists()


def test_set_pki_url_repairs_a_ca_made_with_https(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _init(padlock_proc, data, "--base-url", "http://ca.example.com")
    _as_made_before_pki_urls(data, "https://ca.example.com")

    refused = _issue_dv(padlock_proc, data, tmp_path)
    assert refused.rc == 1
    assert "only http://" in refused.err and "padlock ca set-pki-url" in refused.err
    assert "Traceback" not in refused.err and not (tmp_path / "dv.crt").exists()
    listed = padlock_proc("ca", "list", "--data-dir", data, "--json", env=CA_ENV)
    assert json.loads(listed.out) == []  # refused before anything was reserved
    doctor = padlock_proc("doctor", "--data-dir", data, "--offline", env=CA_ENV)
    assert "WARN pki-url" in doctor.out and "set-pki-url http://ca.example.com" in doctor.out

    fixed = padlock_proc(
        "ca", "set-pki-url", "http://ca.example.com", "--data-dir", data, "--json", env=CA_ENV
    )
    assert fixed.rc == 0, fixed.err
    assert json.loads(fixed.out) == {
        "old": "https://ca.example.com",
        "new": "http://ca.example.com",
    }
    assert _issue_dv(padlock_proc, data, tmp_path).rc == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "dv.crt").read_bytes())
    assert all(u.startswith("http://ca.example.com/") for u in _urls(leaf))
    doctor = padlock_proc("doctor", "--data-dir", data, "--offline", env=CA_ENV)
    assert "ok   pki-url" in doctor.out and "ok   pki-host" in doctor.out


@pytest.mark.parametrize(
    "url", ["https://ca.example.com", "ftp://ca.example.com", "http://", "http://x/?a=1", "ca"]
)
def test_set_pki_url_refuses_what_is_not_plain_http(
    padlock_proc: Run, tmp_path: Path, url: str
) -> None:
    data = tmp_path / "data"
    _init(padlock_proc, data, "--base-url", "http://ca.example.com")
    before = (data / "ca" / "ca.json").read_bytes()
    res = padlock_proc("ca", "set-pki-url", url, "--data-dir", data, env=CA_ENV)
    assert res.rc == 1 and "plain http://" in res.err and "Traceback" not in res.err
    assert (data / "ca" / "ca.json").read_bytes() == before


def test_doctor_says_internal_and_unreachable_pki_urls(padlock_proc: Run, tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()  # nothing listens there
    _init(padlock_proc, data, "--base-url", f"http://127.0.0.1:{port}")
    res = padlock_proc("doctor", "--data-dir", data, "--json", env=CA_ENV)
    checks = {c["check"]: c for c in json.loads(res.out)}
    assert checks["pki-url"]["ok"] is True
    assert checks["pki-host"]["ok"] is False and "internal host" in checks["pki-host"]["detail"]
    assert checks["pki-fetch"]["ok"] is False and "unreachable" in checks["pki-fetch"]["detail"]


def _ocsp_urls(cert: x509.Certificate) -> list[str]:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]


def test_ca_init_revocation_defaults_shards_and_no_trusted_ocsp(
    padlock_proc: Run, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _init(padlock_proc, data, "--base-url", "http://ca.example.com", "--crl-shards", "16")
    assert json.loads((data / "ca/ca.json").read_text())["revocation"] == {
        "test-issuing": {"crl_shards": 4, "ocsp": True},
        "trusted-issuing": {"crl_shards": 16, "ocsp": False},
    }
    assert _issue_dv(padlock_proc, data, tmp_path).rc == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "dv.crt").read_bytes())
    assert _ocsp_urls(leaf) == []
    shard = leaf.serial_number % 16
    assert _urls(leaf)[-1] == f"http://ca.example.com/crl/trusted-issuing/{shard}.crl"

    turned = padlock_proc("ca", "set-ocsp", "on", "--data-dir", data, env=CA_ENV)
    assert turned.rc == 0 and "OCSP for trusted-issuing is on" in turned.out, turned.err
    assert _issue_dv(padlock_proc, data, tmp_path, "again.crt").rc == 0
    again = x509.load_pem_x509_certificate((tmp_path / "again.crt").read_bytes())
    assert _ocsp_urls(again) == ["http://ca.example.com/ocsp/trusted-issuing"]
    bad = padlock_proc("ca", "set-ocsp", "maybe", "--data-dir", data, env=CA_ENV)
    assert bad.rc != 0 and "Traceback" not in bad.err
    nowhere = padlock_proc("ca", "set-ocsp", "on", "--data-dir", tmp_path / "none", env=CA_ENV)
    assert nowhere.rc == 1 and "There is no CA" in nowhere.err and "Traceback" not in nowhere.err


def test_ca_init_refuses_too_many_crl_shards(padlock_proc: Run, tmp_path: Path) -> None:
    res = padlock_proc(
        "ca", "init", "--data-dir", tmp_path / "data", "--crl-shards", "5000", env=CA_ENV
    )
    assert res.rc != 0 and "0 to 4096" in res.err and "Traceback" not in res.err, res.err
    assert not (tmp_path / "data" / "ca" / "ca.json").exists()
