"""What a pasted CSR contains and what is wrong with it, in plain words (the portal's preview).

The seed's two warnings drive it: a Common Name with ``http://`` or a path in it, and
submitting the wrong CSR (so the key's fingerprint is shown, with the command that
shows the same fingerprint for the key on the server). A private key pasted by
mistake is recognised, refused, and never echoed back, stored or logged.

Every refusal the issuer would make is found here first, by running its checks
(:meth:`padlock.ca.issuance.Issuer.check`), which change no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from padlock.ca.issuance import Issuer, IssueRequest
from padlock.errors import InvalidName, PadlockError
from padlock.pki import certs, names
from padlock.pki.csr import csr_names, load_csr
from padlock.pki.describe import describe_csr

MAX_CSR_TEXT = 64 * 1024

# A stand-in for the verified fields, so that the ov profile's checks can run on a preview.
_PLACEHOLDER_ORG = certs.Organization("Preview", None, None, "US")


@dataclass
class Finding:
    level: str  # error | warning | info
    message: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "message": self.message, "hint": self.hint}


@dataclass
class Preview:
    """The analysis of one pasted text: facts when it is a CSR, and findings."""

    kind: str  # empty | csr | private_key | certificate | unreadable
    findings: list[Finding] = field(default_factory=list)
    subject: str | None = None
    common_name: str | None = None
    names: list[str] = field(default_factory=list)
    key_type: str | None = None
    key_fingerprint: str | None = None
    signature_algorithm: str | None = None
    organization: dict[str, str] = field(default_factory=dict)
    pem: str | None = None  # the CSR re-encoded, for the submission

    @property
    def ok(self) -> bool:
        return self.kind == "csr" and not any(f.level == "error" for f in self.findings)

    @property
    def secret(self) -> bool:
        """The text held a private key: it must not be shown again."""
        return self.kind == "private_key"

    def error(self, message: str, hint: str | None = None) -> None:
        if not any(f.message == message for f in self.findings):
            self.findings.append(Finding("error", message, hint))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "subject": self.subject,
            "common_name": self.common_name,
            "names": self.names,
            "key": {"type": self.key_type, "fingerprint": self.key_fingerprint}
            if self.key_type
            else None,
            "signature_algorithm": self.signature_algorithm,
            "organization": self.organization,
            "findings": [f.as_dict() for f in self.findings],
        }


def _private_key(text: str) -> bool:
    return "PRIVATE KEY-----" in text or "PRIVATE KEY----" in text


PRIVATE_KEY_MESSAGE = (
    "This is a private key, not a CSR. Never send your private key to anyone, not even"
    " to a certificate authority: whoever has it can pretend to be your site."
)
PRIVATE_KEY_HINT = (
    "It was not stored or sent on. Paste the CSR instead (the text from -----BEGIN"
    " CERTIFICATE REQUEST----- to -----END CERTIFICATE REQUEST-----); make one from your key"
    " with: padlock csr new --key www.example.com.key --out www.example.com.csr"
)


def _check_host(raw: str, where: str, preview: Preview) -> None:
    try:
        names.normalize_dns_name(raw)
    except InvalidName as exc:
        url = "://" in raw
        path = "/" in raw and not url
        if url or path:
            host = _host_part(raw)
            preview.error(
                f"The {where} is {raw!r}: that is a {'web address (URL)' if url else 'path'},"
                " not a host name. A certificate names a host only, without http:// and"
                " without any directories.",
                f"Make the CSR again with only {host!r} in it, e.g.: padlock csr new --key KEY"
                f" --cn {host} --out {host}.csr"
                if host
                else "Make the CSR again with only the host name in it.",
            )
        else:
            preview.error(f"The {where} {raw!r} is not usable: {exc.message}", exc.hint)


def _host_part(raw: str) -> str | None:
    rest = raw.split("://", 1)[1] if "://" in raw else raw
    host = rest.split("/", 1)[0].split("@")[-1].split(":")[0].strip()
    return host.lower() or None


def _unreadable(stripped: str) -> Preview | None:
    """The answer for text that is not a CSR to read (empty, a key, too long, cut off),
    or None when it may be one."""
    if not stripped:
        preview = Preview("empty")
        preview.findings.append(
            Finding(
                "info",
                "Paste your CSR to see what it contains.",
                "Copy the whole text, including the dashes and the BEGIN and END lines.",
            )
        )
        return preview
    if _private_key(stripped):
        preview = Preview("private_key")
        preview.error(PRIVATE_KEY_MESSAGE, PRIVATE_KEY_HINT)
        return preview
    if len(stripped) > MAX_CSR_TEXT:
        preview = Preview("unreadable")
        preview.error(
            f"The text is {len(stripped)} characters long; a CSR is a few thousand at most.",
            "Paste only the CSR.",
        )
        return preview
    if "-----BEGIN" not in stripped:
        preview = Preview("unreadable")
        preview.error(
            "The BEGIN and END lines are missing.",
            "Copy the whole CSR, including the dashes and the full -----BEGIN CERTIFICATE"
            " REQUEST----- and -----END CERTIFICATE REQUEST----- lines.",
        )
        return preview
    if "-----END" not in stripped:
        preview = Preview("unreadable")
        preview.error(
            "The END line is missing: the CSR was cut off.",
            "Copy the whole CSR, down to -----END CERTIFICATE REQUEST-----.",
        )
        return preview
    return None


_ORG_FIELDS = (
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("state", NameOID.STATE_OR_PROVINCE_NAME),
    ("country", NameOID.COUNTRY_NAME),
)


def _facts(csr: x509.CertificateSigningRequest, info: dict[str, Any]) -> Preview:
    """What the CSR says: subject, key, signature algorithm, organization fields."""
    preview = Preview("csr")
    preview.subject = info["subject"] or "(empty)"
    preview.signature_algorithm = info["signature_algorithm"]
    preview.key_type = info["key"]["type"]
    preview.key_fingerprint = info["key"]["fingerprint"]
    preview.pem = csr.public_bytes(Encoding.PEM).decode()
    cns = _common_names(csr)
    preview.common_name = cns[0] if cns else None
    for label, oid in _ORG_FIELDS:
        values = csr.subject.get_attributes_for_oid(oid)
        if values:
            preview.organization[label] = str(values[0].value)
    return preview


def _common_names(csr: x509.CertificateSigningRequest) -> list[str]:
    return [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _check_names(
    csr: x509.CertificateSigningRequest, info: dict[str, Any], preview: Preview
) -> list[str]:
    """The seed's URL-in-the-CN warning and the signature; the CSR's DNS names."""
    try:
        dns, ips = csr_names(csr)
    except ValueError as exc:
        preview.error(f"The CSR's names cannot be read ({exc}).")
        dns, ips = [], []
    preview.names = dns + ips
    for cn in _common_names(csr):
        if "://" in cn or "/" in cn or " " in cn.strip():
            _check_host(cn, "Common Name", preview)
    if info["names"]:
        for name in dns:
            _check_host(name, "name", preview)
    if not info["signature_valid"]:
        preview.error(
            "The CSR's signature does not verify: the CSR was changed or damaged after it was"
            " made.",
            "Make the CSR again from your private key.",
        )
    return dns


def _issuer_check(issuer: Issuer, profile: str, preview: Preview) -> None:
    """Every refusal the issuer itself would make (key, names, CN among SANs, profile),
    unless the preview has found an error already."""
    try:
        issuer.check(
            IssueRequest(
                csr=(preview.pem or "").encode(),
                profile=profile,
                domain_control_shown=True,
                organization=_PLACEHOLDER_ORG,
            )
        )
    except PadlockError as exc:
        if not any(f.level == "error" for f in preview.findings):
            preview.error(exc.message, exc.hint)
            for sub in exc.subproblems:
                preview.error(sub.detail)


def _notes(preview: Preview, profile: str, dns: list[str], has_san: bool) -> None:
    """The information lines: CN-only names, organization fields, ov review, which key."""
    if not has_san and dns and preview.ok:
        preview.findings.append(
            Finding(
                "info",
                "The CSR has no subjectAltName; the certificate will name "
                + ", ".join(dns)
                + " from the Common Name (browsers read only subjectAltNames).",
            )
        )
    if preview.organization and profile != "ov":
        preview.findings.append(
            Finding(
                "info",
                "The organization fields of the CSR ("
                + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in preview.organization.items())
                + f") do not go into a {profile} certificate; it names only hosts.",
            )
        )
    if profile == "ov":
        preview.findings.append(
            Finding(
                "info",
                "For an organization-validated certificate, our reviewer verifies your"
                " organization's details against your documents; the certificate carries what"
                " was verified, not what the CSR says.",
            )
        )
    preview.findings.append(
        Finding(
            "info",
            "Is this the CSR of the key on your server? If you made more than one, check:"
            " the key fingerprint above must be the one padlock show prints for the key.",
            "On the server: padlock show www.example.com.key (or padlock match KEY CSR, which"
            " compares them for you).",
        )
    )


def analyse(text: str, issuer: Issuer, profile: str) -> Preview:
    """Analyse pasted CSR text for ``profile`` (test, dv or ov)."""
    stripped = text.strip()
    early = _unreadable(stripped)
    if early is not None:
        return early
    try:
        csr = load_csr(stripped.encode("utf-8", "replace"))
    except PadlockError as exc:
        kind = "certificate" if "BEGIN CERTIFICATE-----" in stripped else "unreadable"
        preview = Preview(kind)
        preview.error(exc.message, exc.hint)
        return preview
    info = describe_csr(csr)
    preview = _facts(csr, info)
    dns = _check_names(csr, info, preview)
    _issuer_check(issuer, profile, preview)
    _notes(preview, profile, dns, bool(info["names"]))
    return preview
