"""The pure side of partitioned CRLs: shard choice, URLs, and the CRL DER written by hand
compared byte for byte with what cryptography's builder writes for the same fields."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from padlock.pki import crl_ocsp, crl_shards, der
from padlock.pki.crl_ocsp import REASONS, RevokedEntry
from tests.pki.test_crl_ocsp import CA, CA_KEY

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
URL = "http://ca.example.com/crl/test-issuing.crl"


ISSUER, KEY = CA, CA_KEY  # an issuing CA with an SKI, made once


def _builder_tbs(entries: list[RevokedEntry], number: int, url: str | None) -> bytes:
    """cryptography's TBSCertList for the same fields, with the IDP padlock writes."""
    builder = crl_ocsp.crl_builder(ISSUER, number, NOW, NOW + dt.timedelta(days=7), entries)
    if url is not None:
        idp = x509.IssuingDistributionPoint(
            [x509.UniformResourceIdentifier(url)], None, True, False, None, False, False
        )
        builder = builder.add_extension(idp, critical=True)
    return builder.sign(KEY, hashes.SHA256()).tbs_certlist_bytes


def _our_tbs(entries: list[RevokedEntry], number: int, url: str | None, algorithm: bytes) -> bytes:
    return crl_shards.tbs_cert_list(
        algorithm,
        ISSUER.subject.public_bytes(),
        NOW,
        NOW + dt.timedelta(days=7),
        crl_shards.revoked_list(entries),
        crl_shards.crl_extensions(ISSUER, number, url),
    )


_entry = st.builds(
    RevokedEntry,
    st.integers(min_value=1, max_value=(1 << 159) - 1),
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2060, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from(sorted(REASONS)),
)


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(_entry, max_size=20, unique_by=lambda e: e.serial),
    number=st.integers(min_value=1, max_value=1 << 62),
    sharded=st.booleans(),
)
def test_crl_shards_der_is_what_cryptography_writes(
    entries: list[RevokedEntry], number: int, sharded: bool
) -> None:
    url = crl_shards.shard_url(URL, 7) if sharded else None
    theirs = _builder_tbs(entries, number, url)
    algorithm = der.children(theirs)[1]
    assert _our_tbs(entries, number, url, algorithm) == theirs


def test_crl_shards_without_entries_leaves_the_list_out() -> None:
    """RFC 5280 5.1.2.6: no revoked certificates, no (empty) list."""
    theirs = _builder_tbs([], 1, None)
    ours = _our_tbs([], 1, None, der.children(theirs)[1])
    assert ours == theirs
    assert len(der.children(ours)) == 6  # version, signature, issuer, two times, [0]


def test_crl_shards_shard_of_spreads_random_serials_evenly() -> None:
    counts = [0] * 16
    for _ in range(16_000):
        counts[crl_shards.shard_of(secrets.randbits(128), 16)] += 1
    assert min(counts) > 800 and max(counts) < 1200


def test_crl_shards_shard_of_needs_shards() -> None:
    with pytest.raises(ValueError, match="no shard"):
        crl_shards.shard_of(5, 0)
    with pytest.raises(ValueError, match="0 to 4096"):
        crl_shards.check_shards(5000)


def test_crl_shards_url_and_back() -> None:
    url = crl_shards.shard_url(URL, 42)
    assert url == "http://ca.example.com/crl/test-issuing/42.crl"
    cert = (
        x509.CertificateBuilder()
        .subject_name(ISSUER.subject)
        .issuer_name(ISSUER.subject)
        .public_key(KEY.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
            ),
            False,
        )
        .sign(KEY, hashes.SHA256())
    )
    assert crl_shards.shard_named(cert, "test-issuing") == 42
    assert crl_shards.shard_named(cert, "trusted-issuing") is None
    assert crl_shards.shard_named(ISSUER, "test-issuing") is None  # no CRLDP at all
    assert crl_shards.shard_named_in(b"not DER", "test-issuing") is None
