"""Public PKI files: roots, chains, the issuer certificates AIA points at, and the
published certificate profiles (``/profiles``, ``/profiles/NAME.json``).

CRLs and OCSP join these when revocation arrives. All are public, cacheable,
and served with the media types of RFC 2585 / RFC 8555 section 7.4.2.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from padlock.ca.signer import load_root
from padlock.errors import NotFound
from padlock.pki import profile_document
from padlock.pki.profiles import Hierarchy
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
    issuer = _services(request).authority.issuer
    if profile not in issuer.profiles:
        raise NotFound(f"There is no profile {profile!r}.")
    signer = issuer.signer_for(issuer.profiles[profile].hierarchy)
    return Response(
        signer.certificate.public_bytes(Encoding.PEM), media_type=PEM_CERT, headers=CACHE
    )


@router.get("/profiles")
def profiles_index(request: Request) -> JSONResponse:
    """Every profile this CA offers, each with the URL of its published document."""
    services = _services(request)
    document = profile_document.index(services.authority.issuer.profiles, services.base_url)
    return JSONResponse(document, headers=CACHE)


@router.get("/profiles/{name}.json")
def profile_json(name: str, request: Request) -> JSONResponse:
    """One profile, machine-readable: every field and extension its certificates carry and
    the values each may take (what the pre-signing gate holds them to)."""
    profiles = _services(request).authority.issuer.profiles
    if name not in profiles:
        raise NotFound(f"There is no profile {name!r}.", hint="GET /profiles lists them.")
    return JSONResponse(profile_document.describe(profiles[name]), headers=CACHE)


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
