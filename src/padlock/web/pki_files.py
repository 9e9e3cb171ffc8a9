"""Public PKI files: roots, chains, and the issuer certificates AIA points at.

CRLs and OCSP join these when revocation arrives. All are public, cacheable,
and served with the media types of RFC 2585 / RFC 8555 section 7.4.2.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response

from padlock.ca.signer import load_root
from padlock.errors import NotFound
from padlock.pki.profiles import PROFILES, Hierarchy
from padlock.web.services import Services

router = APIRouter(tags=["pki files"])

PEM_CERT = "application/x-pem-file"
DER_CERT = "application/pkix-cert"
CACHE = {"Cache-Control": "public, max-age=3600"}


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _hierarchy(name: str) -> Hierarchy:
    try:
        return Hierarchy(name)
    except ValueError:
        raise NotFound(f"There is no root {name!r}; there are test and trusted.") from None


@router.get("/roots/{name}.pem")
def root_pem(name: str, request: Request) -> Response:
    root = load_root(_services(request).settings.ca_dir, _hierarchy(name))
    return Response(root.public_bytes(Encoding.PEM), media_type=PEM_CERT, headers=CACHE)


@router.get("/roots/{name}.der")
def root_der(name: str, request: Request) -> Response:
    root = load_root(_services(request).settings.ca_dir, _hierarchy(name))
    return Response(root.public_bytes(Encoding.DER), media_type=DER_CERT, headers=CACHE)


@router.get("/chains/{profile}.pem")
def chain_pem(profile: str, request: Request) -> Response:
    """The issuing CA of a profile (what goes after the leaf in a full chain)."""
    if profile not in PROFILES:
        raise NotFound(f"There is no profile {profile!r}.")
    signer = _services(request).authority.issuer.signer_for(PROFILES[profile].hierarchy)
    return Response(
        signer.certificate.public_bytes(Encoding.PEM), media_type=PEM_CERT, headers=CACHE
    )


@router.get("/ca/{issuer}.der")
def issuer_der(issuer: str, request: Request) -> Response:
    """The AIA caIssuers target (RFC 5280 4.2.2.1): a DER certificate."""
    return Response(
        issuer_certificate_der(_services(request), issuer), media_type=DER_CERT, headers=CACHE
    )


def issuer_certificate_der(services: Services, issuer: str) -> bytes:
    """The DER certificate of ``issuer`` (an issuing CA or a root), for both servers that
    answer AIA: the whole app and the plain-HTTP PKI responder."""
    # every issuing CA, the succeeded ones too: their certificates still name them in AIA
    signer = services.authority.issuer.signer_by_id(issuer)
    if signer is not None:
        return signer.certificate.public_bytes(Encoding.DER)
    for hierarchy in Hierarchy:
        if issuer == f"{hierarchy.value}-root":
            return load_root(services.settings.ca_dir, hierarchy).public_bytes(Encoding.DER)
    raise NotFound(f"There is no issuer {issuer!r}.")
