"""Shared fixtures: keys (cheap: EC per test, RSA 2048 once per session), file makers,
the padlock CLI (in-process and as a real process) and the openssl CLI."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import NameOID

PASSPHRASE = "correct horse battery staple"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
# The console script of the venv running the tests, whichever venv that is.
PADLOCK_BIN = Path(sys.executable).parent / "padlock"
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)

# The in-process ACME server's fixtures (server, client, test_client, make_server, va, http,
# data_dir), shared by the ACME use cases' tests (tests/ca/acmeserver/) and its HTTP front
# end's (tests/web/test_acme_api.py); a module's own fixture of the same name wins.
pytest_plugins = ("tests.support.acme_server",)


# --------------------------------------------------------------------------- keys


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def other_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(params=["rsa", "ec", "ed25519"])
def any_key(request: pytest.FixtureRequest) -> CertificateIssuerPrivateKeyTypes:
    """One key of each family padlock signs with: RSA 2048, ECDSA P-256, Ed25519."""
    key: CertificateIssuerPrivateKeyTypes = request.getfixturevalue(f"{request.param}_key")
    return key


# --------------------------------------------------------------------------- files


def pem_of(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Maker:
    """Makes keys, CSRs, certificates, chains and CRLs as files, with cryptography only."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def path(self, name: str) -> Path:
        return self.dir / name

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def key_file(
        self, key: PrivateKeyTypes, name: str = "key.pem", passphrase: str | None = None
    ) -> Path:
        """The key as padlock writes it: PKCS#8, scrypt-encrypted when a pass phrase is given."""
        from padlock.pki import keys

        pem = keys.private_key_pem(key, passphrase.encode() if passphrase else None)
        return self.write(name, pem)

    def csr(
        self,
        key: CertificateIssuerPrivateKeyTypes,
        names: Sequence[str] = ("www.example.com",),
    ) -> x509.CertificateSigningRequest:
        return (
            x509.CertificateSigningRequestBuilder()
            .subject_name(_name(names[0]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(key, _hash_for(key))
        )

    def csr_file(
        self,
        key: CertificateIssuerPrivateKeyTypes,
        name: str = "req.csr",
        names: Sequence[str] = ("www.example.com",),
        der: bool = False,
    ) -> Path:
        enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
        return self.write(name, self.csr(key, names).public_bytes(enc))

    def cert(
        self,
        key: CertificateIssuerPrivateKeyTypes,
        names: Sequence[str] = ("www.example.com",),
        issuer_key: CertificateIssuerPrivateKeyTypes | None = None,
        issuer_name: str | None = None,
        ca: bool = False,
        days: int = 21,
        not_before: dt.datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        signer = issuer_key or key
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(_name(issuer_name or names[0]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        return builder.sign(signer, _hash_for(signer))

    def cert_file(
        self,
        key: CertificateIssuerPrivateKeyTypes,
        name: str = "cert.pem",
        names: Sequence[str] = ("www.example.com",),
        der: bool = False,
    ) -> Path:
        enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
        return self.write(name, self.cert(key, names).public_bytes(enc))

    def chain(
        self, leaf_key: CertificateIssuerPrivateKeyTypes
    ) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A leaf signed by a fresh CA: (leaf, ca certificate, ca key)."""
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = self.cert(ca_key, ["Test Root"], ca=True, days=365)
        leaf = self.cert(leaf_key, issuer_key=ca_key, issuer_name="Test Root")
        return leaf, ca_cert, ca_key

    def chain_file(
        self, leaf_key: CertificateIssuerPrivateKeyTypes, name: str = "chain.pem"
    ) -> Path:
        leaf, ca_cert, _ = self.chain(leaf_key)
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca_cert))
        return self.write(name, pem)

    def crl(
        self, revoked: Iterable[int] = (1234, 5678), number: int = 7
    ) -> x509.CertificateRevocationList:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name("Test Root"))
            .last_update(now)
            .next_update(now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(days=1))
                .build()
            )
        return builder.sign(ca_key, hashes.SHA256())

    def crl_file(self, name: str = "root.crl", der: bool = False) -> Path:
        enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
        return self.write(name, self.crl().public_bytes(enc))


@pytest.fixture
def make(tmp_path: Path) -> Maker:
    return Maker(tmp_path)


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "pass.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def leftovers(directory: Path) -> list[str]:
    """Temp files padlock might have left behind (it must never)."""
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".tmp"))


@pytest.fixture
def no_leftovers() -> Callable[[Path], None]:
    def check(directory: Path) -> None:
        assert leftovers(directory) == []

    return check


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a file unreadable: chmod 000, and as root (who reads anything) make open() refuse
    it the way the kernel refuses everyone else."""

    def make_unreadable(path: Path) -> None:
        path.chmod(0)
        if os.geteuid() != 0:
            return
        real_open = Path.open

        def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)

    return make_unreadable


# --------------------------------------------------------------------------- the CLIs


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``padlock ARGS`` in this process (no terminal, no PADLOCK_PASSPHRASE)."""
    from padlock.cli import console, main

    monkeypatch.delenv("PADLOCK_PASSPHRASE", raising=False)
    monkeypatch.setattr(console, "is_terminal", lambda: False)

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        rc = main.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(rc, out, err)

    return run


@pytest.fixture
def padlock_proc(tmp_path: Path) -> Callable[..., Result]:
    """Run the installed ``padlock`` console script as a real process, in ``tmp_path``."""

    def run(
        *args: str | Path, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> Result:
        environ = {k: v for k, v in os.environ.items() if k != "PADLOCK_PASSPHRASE"}
        environ.update(env or {})
        proc = subprocess.run(
            [str(PADLOCK_BIN), *(str(a) for a in args)],
            capture_output=True,
            text=True,
            env=environ,
            cwd=tmp_path,
            input=stdin if stdin is not None else "",
            timeout=120,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def openssl(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``openssl ARGS`` in ``tmp_path``; fails the test if openssl fails, unless check=False."""

    def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [OPENSSL, *(str(a) for a in args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"openssl {' '.join(map(str, args))} failed:\n{proc.stderr}")
        return proc

    return run


# --------------------------------------------------------------------------- what openssl writes

OPENSSL_PASS = "openssl-pass-1"


@dataclass(frozen=True)
class OpensslKeys:
    """Key files written by the openssl CLI, in every form the seed's reader meets."""

    dir: Path
    passphrase: str

    def __getitem__(self, name: str) -> Path:
        path = self.dir / name
        assert path.exists(), name
        return path


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def openssl_keys(tmp_path_factory: pytest.TempPathFactory) -> OpensslKeys:
    d = tmp_path_factory.mktemp("openssl-keys")
    pw = f"pass:{OPENSSL_PASS}"
    # The seed's command, today: genrsa -des3 writes encrypted PKCS#8 (PBES2, 3DES).
    _openssl(d, "genrsa", "-des3", "-passout", pw, "-out", "rsa-des3-pkcs8.pem", "2048")
    # ... and with -traditional, the seed's own PEM: Proc-Type: 4,ENCRYPTED, DEK-Info DES-EDE3-CBC.
    _openssl(
        d, "genrsa", "-traditional", "-des3", "-passout", pw, "-out", "rsa-des3-trad.pem", "2048"
    )
    _openssl(
        d, "rsa", "-traditional", "-passin", pw, "-in", "rsa-des3-trad.pem",
        "-out", "rsa-pkcs1.pem",
    )  # fmt: skip
    _openssl(d, "pkey", "-in", "rsa-pkcs1.pem", "-out", "rsa-pkcs8.pem")
    _openssl(d, "pkey", "-in", "rsa-pkcs1.pem", "-outform", "DER", "-out", "rsa-pkcs8.der")
    _openssl(
        d, "rsa", "-traditional", "-in", "rsa-pkcs1.pem", "-outform", "DER",
        "-out", "rsa-pkcs1.der",
    )  # fmt: skip
    _openssl(
        d, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", pw, "-in", "rsa-pkcs1.pem",
        "-outform", "DER", "-out", "rsa-pkcs8-enc.der",
    )  # fmt: skip
    _openssl(d, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
             "-out", "rsa-1024.pem")  # fmt: skip
    _openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec-sec1.pem")
    _openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-out", "ec-sec1-params.pem")
    _openssl(d, "ec", "-in", "ec-sec1.pem", "-outform", "DER", "-out", "ec-sec1.der")
    _openssl(d, "pkey", "-in", "ec-sec1.pem", "-out", "ec-pkcs8.pem")
    _openssl(
        d, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", pw, "-in", "ec-sec1.pem",
        "-out", "ec-pkcs8-enc.pem",
    )  # fmt: skip
    _openssl(d, "ec", "-aes256", "-passout", pw, "-in", "ec-sec1.pem", "-out", "ec-sec1-enc.pem")
    _openssl(d, "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "ec-p384.pem")
    _openssl(d, "genpkey", "-algorithm", "ed25519", "-out", "ed25519.pem")
    _openssl(d, "ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", "secp256k1.pem")
    _openssl(d, "pkey", "-in", "secp256k1.pem", "-outform", "DER", "-out", "secp256k1.der")
    _openssl(d, "ecparam", "-name", "secp224r1", "-genkey", "-noout", "-out", "p224.pem")
    _openssl(d, "genpkey", "-algorithm", "x25519", "-out", "x25519.pem")
    _openssl(d, "ecparam", "-name", "sect163k1", "-genkey", "-noout", "-out", "sect163k1.pem")
    _openssl(d, "ecparam", "-name", "brainpoolP256r1", "-genkey", "-noout", "-out", "bp256.pem")
    _openssl(d, "pkey", "-in", "ec-sec1.pem", "-pubout", "-out", "ec-public.pem")
    return OpensslKeys(d, OPENSSL_PASS)


_CA_CONFIG = """\
[ca]
default_ca = test
[test]
database = index.txt
crlnumber = crlnumber
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_crl_days = 7
"""


@pytest.fixture(scope="session")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslKeys:
    """A certificate, CRLs and PKCS#12 bundles written by the openssl CLI.

    ``ca.pem``/``ca.key`` (self-signed, ``req -x509``), ``leaf.pem`` (signed by it, for
    ``www.mydomain.com``) with ``leaf.key``, ``chain.pem`` (leaf then CA), ``crl.pem`` and
    ``crl.der`` (``ca -gencrl``), and PKCS#12 bundles: ``pw.p12`` (pass phrase),
    ``empty.p12`` (empty pass phrase), ``plain.p12`` (no encryption, no MAC).
    """
    d = tmp_path_factory.mktemp("openssl-pki")
    pw = f"pass:{OPENSSL_PASS}"
    _openssl(
        d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA", "-days", "30",
    )  # fmt: skip
    _openssl(
        d, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/C=US/O=Widgets Inc./CN=www.mydomain.com",
        "-addext", "subjectAltName=DNS:www.mydomain.com,DNS:mydomain.com",
    )  # fmt: skip
    _openssl(
        d, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-copy_extensions", "copy", "-days", "21", "-out", "leaf.pem",
    )  # fmt: skip
    (d / "chain.pem").write_bytes((d / "leaf.pem").read_bytes() + (d / "ca.pem").read_bytes())
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    (d / "ca.cnf").write_text(_CA_CONFIG)
    _openssl(d, "ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem")
    _openssl(d, "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der")
    _openssl(d, "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der")
    _openssl(d, "req", "-in", "leaf.csr", "-outform", "DER", "-out", "leaf.csr.der")
    _openssl(
        d, "pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-certfile", "ca.pem",
        "-passout", pw, "-out", "pw.p12",
    )  # fmt: skip
    _openssl(
        d, "pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:",
        "-out", "empty.p12",
    )  # fmt: skip
    _openssl(
        d, "pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-keypbe", "NONE",
        "-certpbe", "NONE", "-nomac", "-passout", "pass:", "-out", "plain.p12",
    )  # fmt: skip
    return OpensslKeys(d, OPENSSL_PASS)
