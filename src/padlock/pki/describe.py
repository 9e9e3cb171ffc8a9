"""Human and JSON views of keys, CSRs, certificates, chains and CRLs.

One function builds a plain dict (what ``--json`` prints and what the portal shows);
:func:`render_text` lays the same dict out for a terminal, in the spirit of
``openssl req -text -noout`` / ``openssl x509 -text``, but readable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from padlock.pki import keys, serials
from padlock.pki.objects import Kind, Loaded

Info = dict[str, Any]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_public_key(public: PublicKeyTypes) -> Info:
    info = keys.key_info(public)
    return {
        "type": info.detail,
        "algorithm": info.algorithm,
        "bits": info.size,
        "fingerprint": info.fingerprint,
    }


def _name(name: x509.Name) -> str:
    """In DER order, as ``openssl -nameopt oneline`` shows it: C=US, O=..., CN=..."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            label = {
                "countryName": "C",
                "stateOrProvinceName": "ST",
                "localityName": "L",
                "organizationName": "O",
                "organizationalUnitName": "OU",
                "commonName": "CN",
                "emailAddress": "emailAddress",
            }.get(attr.oid._name, attr.oid._name)
            parts.append(f"{label}={attr.value!s}")
    return ", ".join(parts)


def _sans(extensions: x509.Extensions) -> list[str]:
    try:
        ext = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = []
    for general in ext:
        if isinstance(general, x509.DNSName):
            out.append(f"DNS:{general.value}")
        elif isinstance(general, x509.IPAddress):
            out.append(f"IP:{general.value}")
        elif isinstance(general, x509.RFC822Name):
            out.append(f"email:{general.value}")
        elif isinstance(general, x509.UniformResourceIdentifier):
            out.append(f"URI:{general.value}")
        else:
            out.append(str(general))
    return out


def _ext_value(ext: x509.Extension[x509.ExtensionType]) -> str:
    value = ext.value
    if isinstance(value, x509.BasicConstraints):
        return f"CA:{'TRUE' if value.ca else 'FALSE'}" + (
            f", pathlen:{value.path_length}" if value.path_length is not None else ""
        )
    if isinstance(value, x509.KeyUsage):
        flags = [
            n
            for n in (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
            )
            if getattr(value, n)
        ]
        return ", ".join(flags)
    if isinstance(value, x509.ExtendedKeyUsage):
        return ", ".join(getattr(o, "_name", o.dotted_string) for o in value)
    if isinstance(value, x509.SubjectAlternativeName):
        return ", ".join(_sans(x509.Extensions([ext])))
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest.hex(":")
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier.hex(":") if value.key_identifier else "(no key id)"
    if isinstance(value, x509.AuthorityInformationAccess):
        return ", ".join(f"{d.access_method._name}: {d.access_location.value}" for d in value)
    if isinstance(value, x509.CRLDistributionPoints):
        return ", ".join(str(n.value) for dp in value for n in (dp.full_name or []))
    if isinstance(value, x509.CertificatePolicies):
        return ", ".join(p.policy_identifier.dotted_string for p in value)
    return type(value).__name__


def _extensions(extensions: x509.Extensions) -> list[Info]:
    return [
        {
            "name": getattr(e.oid, "_name", e.oid.dotted_string),
            "oid": e.oid.dotted_string,
            "critical": e.critical,
            "value": _ext_value(e),
        }
        for e in extensions
    ]


def _safe_extensions(obj: x509.Certificate | x509.CertificateSigningRequest) -> x509.Extensions:
    try:
        return obj.extensions
    except ValueError:
        return x509.Extensions([])


def describe_csr(csr: x509.CertificateSigningRequest) -> Info:
    exts = _safe_extensions(csr)
    return {
        "kind": Kind.CSR.value,
        "subject": _name(csr.subject),
        "names": _sans(exts),
        "key": describe_public_key(csr.public_key()),
        "signature_algorithm": _sig_alg(csr),
        "signature_valid": csr.is_signature_valid,
        "extensions": _extensions(exts),
    }


def _sig_alg(
    obj: x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList,
) -> str:
    return getattr(obj.signature_algorithm_oid, "_name", obj.signature_algorithm_oid.dotted_string)


def describe_certificate(cert: x509.Certificate, now: dt.datetime | None = None) -> Info:
    exts = _safe_extensions(cert)
    info: Info = {
        "kind": Kind.CERTIFICATE.value,
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "serial": serials.display(cert.serial_number),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "names": _sans(exts),
        "key": describe_public_key(cert.public_key()),
        "signature_algorithm": _sig_alg(cert),
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        "self_signed": cert.subject == cert.issuer,
        "extensions": _extensions(exts),
    }
    if now is not None:
        remaining = cert.not_valid_after_utc - now
        info["days_left"] = remaining.days
        info["expired"] = remaining.total_seconds() < 0
    return info


def describe_crl(crl: x509.CertificateRevocationList) -> Info:
    number: int | None
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    return {
        "kind": Kind.CRL.value,
        "issuer": _name(crl.issuer),
        "crl_number": number,
        "this_update": _iso(crl.last_update_utc),
        "next_update": _iso(crl.next_update_utc) if crl.next_update_utc else None,
        "revoked": len(crl),
        "signature_algorithm": _sig_alg(crl),
        "sha256": hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest(),
    }


def describe(loaded: Loaded, now: dt.datetime | None = None) -> Info:
    """A JSON-ready view of whatever :func:`padlock.pki.objects.load_any` returned."""
    base: Info = {"kind": loaded.kind.value, "encoding": loaded.encoding}
    if loaded.kind in (Kind.PRIVATE_KEY, Kind.ENCRYPTED_PRIVATE_KEY, Kind.PUBLIC_KEY):
        base["encrypted"] = loaded.kind is Kind.ENCRYPTED_PRIVATE_KEY
        if loaded.public_key is not None:
            base["key"] = describe_public_key(loaded.public_key)
        return base
    if loaded.kind is Kind.CSR and loaded.csr is not None:
        return {**describe_csr(loaded.csr), "encoding": loaded.encoding}
    if loaded.kind is Kind.CRL and loaded.crl is not None:
        return {**describe_crl(loaded.crl), "encoding": loaded.encoding}
    certs = [describe_certificate(c, now) for c in loaded.certificates]
    if loaded.kind is Kind.CERTIFICATE:
        return {**certs[0], "encoding": loaded.encoding}
    base["certificates"] = certs
    if loaded.kind is Kind.CHAIN:
        base["in_order"] = chain_in_order(loaded.certificates)
    if loaded.kind is Kind.PKCS12:
        base["key"] = describe_public_key(loaded.public_key) if loaded.public_key else None
    return base


def chain_in_order(certs: tuple[x509.Certificate, ...]) -> bool:
    """Each certificate is signed by the next (leaf first), as TLS servers must send them."""
    for child, parent in itertools.pairwise(certs):
        if child.issuer != parent.subject:
            return False
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return False
    return True


_LABELS = {
    "subject": "Subject",
    "issuer": "Issuer",
    "serial": "Serial",
    "not_before": "Not before",
    "not_after": "Not after",
    "days_left": "Days left",
    "names": "Names (SAN)",
    "signature_algorithm": "Signature",
    "signature_valid": "Self-signature valid",
    "sha256_fingerprint": "SHA-256 fingerprint",
    "self_signed": "Self-signed",
    "encrypted": "Encrypted",
    "encoding": "Encoding",
    "crl_number": "CRL number",
    "this_update": "This update",
    "next_update": "Next update",
    "revoked": "Revoked entries",
    "in_order": "Chain in order",
    "sha256": "SHA-256",
    "expired": "Expired",
}

# Booleans worth shouting about when they take this value.
_ALARMING = {"signature_valid": False, "in_order": False, "encrypted": False, "expired": True}


def _render_value(value: Any, key: str = "") -> str:
    if isinstance(value, bool):
        text = "yes" if value else "no"
        return text.upper() if _ALARMING.get(key) is value else text
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return "" if value is None else str(value)


def render_text(info: Info, indent: str = "") -> str:
    kind = str(info.get("kind", ""))
    lines = [f"{indent}{kind[:1].upper()}{kind[1:]}"]
    pad = indent + "  "
    for key, value in info.items():
        if key in ("kind", "extensions", "certificates"):
            continue
        if key == "key" and isinstance(value, dict):
            lines.append(f"{pad}{'Key':<22}{value['type']}")
            lines.append(f"{pad}{'Key fingerprint':<22}{value['fingerprint']}")
            continue
        if key == "key" and value is None:
            lines.append(f"{pad}{'Key':<22}(none: certificates only)")
            continue
        if key == "subject" and not value:
            value = "(empty)"
        lines.append(f"{pad}{_LABELS.get(key, key):<22}{_render_value(value, key)}")
    for ext in info.get("extensions", []):
        crit = " (critical)" if ext["critical"] else ""
        lines.append(f"{pad}{'Extension':<22}{ext['name']}{crit}: {ext['value']}")
    for n, cert in enumerate(info.get("certificates", [])):
        lines.append(f"{pad}[{n}]")
        lines.append(render_text(cert, pad + "  "))
    return "\n".join(lines)
