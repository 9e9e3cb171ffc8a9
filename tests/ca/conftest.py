"""A CA made once per session, a fresh store per test, and CSR makers."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from padlock.ca.issuance import IssuancePolicy, Issuer
from padlock.ca.ports import Store
from padlock.ca.signer import Signer, create_authority, load_issuing_signers
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store import open_store

CA_PASSPHRASE = b"ca pass phrase for tests"
BASE_URL = "http://ca.example.com"  # a public name: pkilint checks AIA/CRL DP hosts


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("ca-data")
    create_authority(
        data / "ca",
        name="padlock tests",
        passphrase=CA_PASSPHRASE,
        now=dt.datetime.now(dt.UTC),
        base_url=BASE_URL,
    )
    return data / "ca"


@pytest.fixture(scope="session")
def signers(ca_dir: Path) -> dict[Hierarchy, Signer]:
    return load_issuing_signers(ca_dir, CA_PASSPHRASE)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'padlock.db'}")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on SQLite, then on PostgreSQL (a schema of its own, dropped after)."""
    from tests.ca import issue_loop

    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'any.db'}"
        else:
            url = stack.enter_context(issue_loop.pg_schema("padlock_ca_any"))
        s = open_store(url)
        stack.callback(s.close)
        yield s


@pytest.fixture
def issuer(store: Store, signers: dict[Hierarchy, Signer]) -> Issuer:
    return Issuer(store, signers, IssuancePolicy(base_url=BASE_URL), builtin_blocklist())


CSRMaker = Callable[..., bytes]


def build_csr(
    names: Sequence[str] = ("www.example.com",),
    key: CertificateIssuerPrivateKeyTypes | None = None,
    cn: str | None = "",
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    san: bool = True,
) -> bytes:
    """A PEM CSR; ``cn=""`` means the first name, None means no CN."""
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    common = names[0] if cn == "" else cn
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)] if common else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    general: list[x509.GeneralName] = []
    for n in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            general.append(x509.DNSName(n))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def make_csr() -> CSRMaker:
    return build_csr
