"""The CRL a certificate names: what a relying party fetches to check it (RFC 5280 4.2.1.13),
its shard's when its CA has CRL shards, the full CRL otherwise."""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509


def crl_url(cert: x509.Certificate) -> str:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert len(points) == 1 and points[0].full_name is not None
    return str(points[0].full_name[0].value)


def crl_path(cert: x509.Certificate) -> str:
    """The path of the CRL URL the certificate names (``/crl/ISSUER/N.crl``), for a test
    server that answers it on another host and port than the URL says."""
    return urlsplit(crl_url(cert)).path
