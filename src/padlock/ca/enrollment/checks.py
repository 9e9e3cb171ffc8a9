"""What an applicant or a reviewer types, checked before anything is stored: ids, the
request kind, the contact address, the organization (BR 7.1.4.2.2), document names and
types."""

from __future__ import annotations

import base64
import re
import secrets
import unicodedata

from padlock.ca.enrollment.model import DOCUMENT_TYPES, Kind
from padlock.errors import (
    InvalidName,
    Malformed,
    UnsupportedMediaType,
)
from padlock.pki import names as pki_names
from padlock.pki.certs import Organization

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def id_text(data: bytes) -> str:
    """``data`` as lower-case base32 (RFC 4648 section 6, no padding): an id's text.

    Letters and digits only: such an id never begins with ``-``, which a command line
    reads as an option (``padlock review reject -_gaab...`` failed so with the older
    base64url ids, one in 64 of them), and a double click selects it whole.
    """
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def random_id(nbytes: int) -> str:
    """An id of ``nbytes`` random bytes (:func:`id_text`)."""
    return id_text(secrets.token_bytes(nbytes))


def new_request_id() -> str:
    """192 random bits (39 characters): the request's capability (whoever knows it may act
    on it). Ids of the older base64url form stay valid (:func:`valid_request_id`)."""
    return random_id(24)


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits; BR 1.6.1 asks at least 112


def valid_request_id(request_id: str) -> bool:
    return bool(_ID_RE.match(request_id))


def parse_kind(kind: str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        raise Malformed(
            f"There is no request kind {kind!r}.",
            hint="Use test (instant 21-day test certificate), dv (domain validated) or ov"
            " (organization validated, reviewed by a person).",
        ) from None


def check_contact(contact: str) -> str:
    """An email address, one line, no display name (it goes into a To: header)."""
    text = contact.strip()
    if not text or len(text) > 254 or not _EMAIL_RE.match(text):
        raise Malformed(
            f"The contact {contact[:80]!r} is not an email address.",
            hint="Give one address like admin@example.com; the status of the request is mailed"
            " there.",
        )
    return text


def check_organization(org: Organization | None, *, who: str = "the applicant") -> Organization:
    """The fields BR 7.1.4.2.2 puts in an OV subject, each within its X.520 upper bound."""
    if org is None:
        raise Malformed(
            "An ov request needs the organization's details.",
            hint="Give organization (legal name), country (two letters) and locality or state.",
        )

    def clean(value: str | None, what: str, limit: int) -> str | None:
        if value is None:
            return None
        text = " ".join(value.split())
        if not text:
            return None
        if len(text) > limit:
            raise Malformed(f"The {what} is longer than {limit} characters.")
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise Malformed(f"The {what} holds control characters.")
        return text

    name = clean(org.organization, "organization name", 64)
    if not name:
        raise Malformed(f"The organization name from {who} is empty.")
    try:
        country = pki_names.normalize_country(org.country or "")
    except InvalidName as exc:
        raise Malformed(exc.message, hint=exc.hint) from None
    locality = clean(org.locality, "locality", 128)
    state = clean(org.state, "state or province", 128)
    if not locality and not state:
        raise Malformed(
            "An ov certificate names a locality or a state or province (BR 7.1.4.2.2).",
            hint="Give the city or the state where the organization is registered.",
        )
    return Organization(name, locality, state, country)


def safe_filename(filename: str) -> str:
    """The uploaded file's name as metadata; path tricks are refused, not repaired."""
    text = unicodedata.normalize("NFC", filename or "").strip()
    low = text.lower()
    tricks = ("/", "\\", "\x00", ":", "%2f", "%5c", "%2e%2e", "%00")
    if (
        not text
        or len(text) > 255
        or any(t in low for t in tricks)
        or text in (".", "..")
        or text.startswith(".")
        or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)
    ):
        raise Malformed(
            f"The file name {filename[:80]!r} is not acceptable: give a plain name like"
            " registration.pdf, without folders or special characters.",
        )
    cleaned = re.sub(r"[^\w .()+-]", "_", text)
    return cleaned[:100]


def sniff_document(content: bytes) -> str:
    """The media type of a PDF, PNG or JPEG by its first bytes; anything else is refused."""
    for media_type, magic, _label in DOCUMENT_TYPES:
        if content.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "The document is not a PDF, PNG or JPEG file (judged by its content, not its name).",
        hint="Scan or save the document as PDF, PNG or JPEG and upload that file.",
    )
