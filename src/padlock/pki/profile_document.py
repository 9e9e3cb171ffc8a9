"""A profile, published: every field and extension its certificates carry, with the values
each may take, as a JSON-ready document (``GET /profiles/NAME.json``).

Made from the same :class:`~padlock.pki.profile_model.Profile` the template writes and
the gate holds every certificate to, so what is published is what is signed: anything
not in the document is refused before signing. Chrome's quantum-resistant root program
draft (section 2.3) asks CAs to publish their profiles machine-readably.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from padlock.pki.keypolicy import MAX_RSA_BITS, MIN_RSA_BITS
from padlock.pki.profile_model import (
    EXTENSIONS,
    IF_SUBJECT_EMPTY,
    SUBJECT_ATTRIBUTES,
    ExtensionRule,
    Profile,
)
from padlock.pki.profiles import ProfileSet

FORMAT = "padlock-profile/1"

_ATTRIBUTE_VALUES = {
    "commonName": "a copy of the first subjectAltName, when it is at most 64 characters"
    " (BR 7.1.4.3)",
    "organizationName": "the organization as a reviewer verified it (BR 7.1.2.7.4)",
    "countryName": "its two-letter ISO 3166-1 country, verified",
    "stateOrProvinceName": "its state or province, verified, when it has one",
    "localityName": "its locality, verified, when it has one",
}
_VALUES: dict[str, dict[str, Any]] = {
    "authorityKeyIdentifier": {"keyIdentifier": "the issuing CA's subjectKeyIdentifier"},
    "subjectKeyIdentifier": {
        "keyIdentifier": "the SHA-1 of the subjectPublicKey (RFC 5280 4.2.1.2 method 1)"
    },
    "basicConstraints": {"cA": False, "pathLenConstraint": "absent"},
    "cRLDistributionPoints": {
        "distributionPoint": "one fullName URI: the issuing CA's CRL URL (of the CRL that"
        " covers the certificate, where the CA partitions its CRLs)",
        "reasons": "absent",
        "cRLIssuer": "absent",
    },
}
_LIST_NAMES = {
    "keyUsage": "usages",
    "extKeyUsage": "purposes",
    "certificatePolicies": "policies",
    "subjectAltName": "names",
    "authorityInfoAccess": "methods",
}


def _span(span: dt.timedelta | None) -> str | None:
    if span is None:
        return None
    hours = span // dt.timedelta(hours=1)
    return f"{span.days}d" if hours % 24 == 0 else f"{hours}h"


def _extension(rule: ExtensionRule) -> dict[str, Any]:
    values: dict[str, Any] = dict(_VALUES.get(rule.name, {}))
    if rule.name in _LIST_NAMES:
        values[_LIST_NAMES[rule.name]] = list(rule.values)
    if rule.name == "keyUsage" and "keyEncipherment" in rule.values:
        values["note"] = "keyEncipherment for RSA keys only (BR 7.1.2.7.11)"
    if rule.name == "authorityInfoAccess":
        values["caIssuers"] = "the issuing CA's certificate URL"
        if "ocsp" in rule.values:
            values["ocsp"] = "the issuing CA's OCSP URL, where it runs a responder"
    if rule.name == "subjectAltName":
        values["values"] = "every name the request asked for and the CA validated"
    return {
        "name": rule.name,
        "oid": EXTENSIONS[rule.name],
        "critical": IF_SUBJECT_EMPTY if rule.critical is None else rule.critical,
        "values": values,
    }


def describe(profile: Profile) -> dict[str, Any]:
    """The published document of ``profile``."""
    return {
        "format": FORMAT,
        "name": profile.name,
        "aliases": list(profile.aliases),
        "description": profile.description,
        "hierarchy": profile.hierarchy.value,
        "validation": "organization"
        if profile.needs_organization
        else ("domain" if profile.needs_validation else "none"),
        "pkilint": profile.pkilint,
        "validity": {
            "default": _span(profile.lifetime),
            "maximum": _span(profile.limit),
            "schedule": "never longer than BR 6.3.2 allows on the day of issuance"
            " (200 days from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15)",
            "authorizationReuse": None
            if profile.reuse_cap_days is None
            else f"{profile.reuse_cap_days}d",
        },
        "fields": {
            "version": "v3",
            "serialNumber": "128 bits from a CSPRNG, positive (BR 7.1)",
            "signature": "the issuing CA's signature algorithm",
            "issuer": "the issuing CA's subject",
            "validity": "notBefore one minute before issuance; notAfter as above, inclusive",
            "subject": [
                {
                    "name": name,
                    "oid": SUBJECT_ATTRIBUTES[name],
                    "value": _ATTRIBUTE_VALUES[name],
                }
                for name in profile.subject
            ],
            "subjectPublicKeyInfo": [
                f"RSA, {MIN_RSA_BITS} to {MAX_RSA_BITS} bits (BR 6.1.5)",
                "ECDSA on P-256, P-384 or P-521 (BR 6.1.5)",
            ],
            "issuerUniqueID": "absent",
            "subjectUniqueID": "absent",
        },
        "extensions": [_extension(rule) for rule in profile.extensions],
        "unlisted": "refused before signing: a certificate of this profile carries no field,"
        " attribute, extension or value this document does not list",
    }


def index(profiles: ProfileSet, base_url: str) -> dict[str, Any]:
    """``GET /profiles``: every profile offered, with where its document is."""
    base = base_url.rstrip("/")
    return {
        "format": FORMAT,
        "profiles": [
            {
                "name": p.name,
                "aliases": list(p.aliases),
                "hierarchy": p.hierarchy.value,
                "description": p.description,
                "url": f"{base}/profiles/{p.name}.json",
            }
            for p in profiles.values()
        ],
    }
