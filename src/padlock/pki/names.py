"""Host name rules: check and normalise what people type as a certificate name.

The seed's most common mistake is a URL or a path in the Common Name
("You MUST NOT include the http:// portion"). Every such mistake here gets an
error that says exactly what to type instead.

Rules: RFC 1034 section 3.5 / RFC 1123 section 2.1 (LDH labels, 63 and 253
octets), RFC 5890-5892 via UTS #46 for IDNs (U-labels become A-labels),
RFC 6125 section 6.4.3 and BR 7.1.4.2 for wildcards (only a whole leftmost
label ``*``). The public-suffix and internal-name rules of CA policy live in
:mod:`padlock.pki.policy`, not here: these are the rules every name obeys.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import idna

from padlock.errors import InvalidName

MAX_NAME = 253
MAX_LABEL = 63
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# ISO 3166-1 alpha-2, officially assigned codes (X.520 countryName, BR 7.1.4.2.2).
_ISO3166 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI
    BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN
    CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
    FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP
    NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905
)


# Codes people type that ISO 3166 does not assign (or reserves) as countries.
_COUNTRY_MISTAKES = {
    "UK": "The United Kingdom is GB (not UK) in ISO 3166-1 alpha-2.",
    "EL": "Greece is GR (not EL) in ISO 3166-1 alpha-2.",
    "EU": "The European Union has no country code in certificates; use the member state's.",
}


def _host_of(raw: str) -> str | None:
    """The host part of something that looks like a URL or host:port/path, if any."""
    candidate = raw if "://" in raw else "//" + raw
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return host or None


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_ip(raw: str) -> str:
    """Canonical text of an IP address identifier (RFC 8738 section 3, RFC 5952)."""
    try:
        return str(ipaddress.ip_address(raw.strip().strip("[]")))
    except ValueError:
        raise InvalidName(f"{raw!r} is not an IP address.") from None


def _ace(label: str, whole: str) -> str:
    """One label as an A-label (lower-case LDH), or an InvalidName."""
    if label.isascii():
        low = label.lower()
        if low.startswith("xn--"):
            try:
                idna.decode(low)
            except idna.IDNAError as exc:
                raise InvalidName(
                    f"{whole!r}: the label {label!r} is not a valid IDN A-label ({exc}).",
                    hint="Type the name in its Unicode form and padlock converts it.",
                ) from None
        elif len(low) >= 4 and low[2:4] == "--":
            raise InvalidName(
                f"{whole!r}: the label {label!r} has '--' in the third and fourth place,"
                " which is reserved for IDN labels (RFC 5891 section 4.2.3.1).",
            )
        return low
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidName(
            f"{whole!r}: the label {label!r} is not a valid internationalised label ({exc}).",
        ) from None


def normalize_dns_name(raw: str, *, allow_wildcard: bool = True) -> str:
    """Return the canonical form of a DNS name (lower-case A-labels), or raise InvalidName."""
    if not isinstance(raw, str):
        raise InvalidName(f"{raw!r} is not text.")
    text = raw.strip()
    if not text:
        raise InvalidName("The name is empty.", hint="Type the host name, e.g. www.example.com.")
    if "://" in text or "/" in text:
        host = _host_of(text)
        where = "a URL" if "://" in text else "a path"
        if host:
            raise InvalidName(
                f"{raw!r} is {where}, not a host name.",
                hint=f"Put only the host name: {host}",
            )
        raise InvalidName(f"{raw!r} is {where}, not a host name.", hint="Put only the host name.")
    if any(ch.isspace() for ch in text):
        raise InvalidName(f"{raw!r} contains a space; host names have none.")
    if "@" in text:
        raise InvalidName(
            f"{raw!r} looks like an email address, not a host name.",
            hint="Put the email address in --email, and only the host name here.",
        )
    if is_ip_address(text):
        raise InvalidName(
            f"{raw!r} is an IP address, not a DNS name.",
            hint="IP addresses go in an iPAddress SAN (padlock csr new --san accepts them).",
        )
    if ":" in text:
        host = _host_of(text)
        raise InvalidName(
            f"{raw!r} has a port; a certificate names hosts, not ports.",
            hint=f"Put only the host name: {host}" if host else "Put only the host name.",
        )
    # UTS #46 maps the IDN full stops (U+3002 etc.) to '.'; the root's trailing dot goes.
    text = text.replace("\u3002", ".").replace("\uff0e", ".").replace("\uff61", ".")
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    labels = text.split(".")
    if any(label == "" for label in labels):
        raise InvalidName(f"{raw!r} has an empty label (two dots in a row, or a leading dot).")
    wildcard = False
    if "*" in text:
        if not allow_wildcard:
            raise InvalidName(f"{raw!r}: a wildcard is not allowed here.")
        if labels[0] != "*" or any("*" in label for label in labels[1:]):
            raise InvalidName(
                f"{raw!r} is a bad wildcard: only a whole leftmost label '*' is allowed"
                " (like *.example.com).",
            )
        if len(labels) < 3:
            raise InvalidName(
                f"{raw!r} is a wildcard over a top-level domain.",
                hint="A wildcard needs a registered domain under it, like *.example.com.",
            )
        wildcard = True
        labels = labels[1:]
    out = []
    for label in labels:
        if "_" in label:
            raise InvalidName(
                f"{raw!r} contains an underscore; host names allow only letters, digits"
                " and hyphens (BR 7.1.4.2.1).",
            )
        ace = _ace(label, raw)
        if len(ace) > MAX_LABEL:
            raise InvalidName(f"{raw!r}: the label {label!r} is longer than 63 characters.")
        if not _LDH.match(ace):
            raise InvalidName(
                f"{raw!r}: the label {label!r} has characters a host name cannot have"
                " (only letters, digits and inner hyphens).",
            )
        out.append(ace)
    # Single-label names pass here; CA policy refuses them for trusted profiles.
    if out[-1].isdigit():
        raise InvalidName(f"{raw!r}: the last label is all digits, which no top-level domain is.")
    name = ".".join((["*"] if wildcard else []) + out)
    if len(name) > MAX_NAME:
        raise InvalidName(f"{raw!r} is longer than 253 characters.")
    return name


def is_wildcard(name: str) -> bool:
    return name.startswith("*.")


def normalize_country(raw: str) -> str:
    """A checked ISO 3166-1 two-letter country code, upper case."""
    code = raw.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise InvalidName(
            f"{raw!r} is not a two-letter country code.",
            hint="Use the ISO 3166 code, e.g. US, GB, DE, ZA.",
        )
    if code not in _ISO3166:
        hint = _COUNTRY_MISTAKES.get(code, "Use the ISO 3166-1 alpha-2 code, e.g. US, GB, DE, ZA.")
        raise InvalidName(f"{raw!r} is not an ISO 3166 country code.", hint=hint)
    return code


def to_unicode(name: str) -> str:
    """The U-label form of a normalised name, for people to read."""
    try:
        return ".".join(
            label if label == "*" else idna.decode(label) if label.startswith("xn--") else label
            for label in name.split(".")
        )
    except idna.IDNAError:
        return name
