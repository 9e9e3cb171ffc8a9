"""A certificate profile as data: the model, and the one reader of its TOML text.

A profile file (``<data dir>/profiles/NAME.toml``, docs/ca-operations.md) lists every
subject attribute and every extension a subscriber certificate of that profile may
carry, with the values each may take. The same model drives what padlock writes
(:class:`padlock.pki.certs.LeafTemplate`), the "no unlisted field" gate before every
signature (:mod:`padlock.pki.profile_gate`) and the published description
(:mod:`padlock.pki.profile_document`). Reading is strict: an unknown key, a value of the
wrong type or one padlock cannot honour is refused with the key's name and line, so a
typo never silently changes what a CA signs.

Pure: text in, a :class:`Profile` or a :class:`ProfileFileError` out.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from padlock.errors import ConfigError

# BR 7.1.6.1 reserved policy identifiers.
OID_DV = "2.23.140.1.2.1"
OID_OV = "2.23.140.1.2.2"

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_DURATION = re.compile(r"([1-9][0-9]{0,4})([dh])")


class Hierarchy(StrEnum):
    TEST = "test"
    TRUSTED = "trusted"


class ProfileFileError(ConfigError):
    """A profile file padlock refuses to read: which file, which line, why."""


# The subject attributes padlock can write (RFC 5280 4.1.2.6; BR 7.1.2.7.2-4), by name.
SUBJECT_ATTRIBUTES: dict[str, str] = {
    "countryName": "2.5.4.6",
    "stateOrProvinceName": "2.5.4.8",
    "localityName": "2.5.4.7",
    "organizationName": "2.5.4.10",
    "commonName": "2.5.4.3",
}
_ORGANIZATION_ATTRIBUTES = frozenset(SUBJECT_ATTRIBUTES) - {"commonName"}

# The extensions padlock can write in a subscriber certificate (BR 7.1.2.7.6), by their
# RFC 5280 names, with the one key that lists each one's allowed values and those values.
EXTENSIONS: dict[str, str] = {
    "authorityKeyIdentifier": "2.5.29.35",
    "subjectKeyIdentifier": "2.5.29.14",
    "authorityInfoAccess": "1.3.6.1.5.5.7.1.1",
    "certificatePolicies": "2.5.29.32",
    "extKeyUsage": "2.5.29.37",
    "subjectAltName": "2.5.29.17",
    "keyUsage": "2.5.29.15",
    "basicConstraints": "2.5.29.19",
    "cRLDistributionPoints": "2.5.29.31",
}
_VALUES: dict[str, tuple[str, frozenset[str]]] = {
    # BR 7.1.2.7.11: digitalSignature; keyEncipherment MAY be set for RSA keys only.
    "keyUsage": ("usages", frozenset({"digitalSignature", "keyEncipherment"})),
    # BR 7.1.2.7.10 allows clientAuth too; Chrome's root policy 1.8 asks for serverAuth-only
    # hierarchies, so padlock writes serverAuth alone.
    "extKeyUsage": ("purposes", frozenset({"serverAuth"})),
    "certificatePolicies": ("policies", frozenset({OID_DV, OID_OV})),
    # BR 7.1.2.7.12: dNSName and iPAddress only.
    "subjectAltName": ("names", frozenset({"dNSName", "iPAddress"})),
    # BR 7.1.2.7.7: caIssuers, and OCSP where the CA runs a responder.
    "authorityInfoAccess": ("methods", frozenset({"caIssuers", "ocsp"})),
}
# subjectAltName is critical exactly when the subject is empty (RFC 5280 4.2.1.6).
IF_SUBJECT_EMPTY = "if-subject-empty"

_TOP_KEYS = frozenset(
    {
        "description",
        "hierarchy",
        "aliases",
        "validation",
        "pkilint",
        "validity",
        "subject",
        "extensions",
        "enabled",
    }
)
_VALIDATIONS = ("none", "domain", "organization")


@dataclass(frozen=True)
class ExtensionRule:
    """One extension a profile's certificates carry: whether it is critical (None: as the
    subject demands, for subjectAltName) and the values it may hold (its list key's)."""

    name: str
    critical: bool | None
    values: tuple[str, ...] = ()

    @property
    def oid(self) -> str:
        return EXTENSIONS[self.name]


@dataclass(frozen=True)
class Profile:
    name: str
    hierarchy: Hierarchy
    default_days: int  # the default validity, in whole days as BR 6.3.2 counts them
    cap_days: int | None  # a fixed cap of the profile itself; the BR maximum applies on top
    policy_oid: str
    needs_validation: bool  # domain control must have been shown
    needs_organization: bool  # verified O/L/ST/C are put in the subject
    pkilint: bool  # run pkilint before signing (BR 4.3.1.2)
    description: str
    # IP address identifiers (RFC 8738; BR 3.2.2.5): only where certificates are short-lived
    # (as Let's Encrypt's shortlived profile), since an address changes hands sooner than a name.
    ip_addresses: bool = False
    # Days a domain validation may be reused for this profile, when shorter than BR 4.2.1's.
    reuse_cap_days: int | None = None
    aliases: tuple[str, ...] = ()
    # The exact lifetimes when the file gives them in hours (shortlived's 160h).
    default_validity: dt.timedelta | None = None
    max_validity: dt.timedelta | None = None
    subject: tuple[str, ...] = ("commonName",)
    extensions: tuple[ExtensionRule, ...] = ()

    def rule(self, name: str) -> ExtensionRule | None:
        for rule in self.extensions:
            if rule.name == name:
                return rule
        return None

    @property
    def common_name(self) -> bool:
        """Whether the first SAN is copied into the subject's CN (BR 7.1.2.7.2: optional)."""
        return "commonName" in self.subject

    @property
    def subject_key_identifier(self) -> bool:
        return self.rule("subjectKeyIdentifier") is not None

    @property
    def key_encipherment(self) -> bool:
        """keyEncipherment for RSA keys (BR 7.1.2.7.11); never for other keys."""
        rule = self.rule("keyUsage")
        return rule is not None and "keyEncipherment" in rule.values

    @property
    def ocsp(self) -> bool:
        """Whether AIA names the issuing CA's OCSP responder, where it has one."""
        rule = self.rule("authorityInfoAccess")
        return rule is None or "ocsp" in rule.values

    @property
    def lifetime(self) -> dt.timedelta:
        return self.default_validity or dt.timedelta(days=self.default_days)

    @property
    def limit(self) -> dt.timedelta | None:
        if self.max_validity is not None:
            return self.max_validity
        return None if self.cap_days is None else dt.timedelta(days=self.cap_days)


# --- reading a file -------------------------------------------------------------------------


def parse_profile(name: str, text: str, source: str) -> tuple[Profile, bool]:
    """(the profile ``text`` describes, whether it is enabled); ``source`` names the file
    in the errors. Refuses with the file, line and reason."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends "(at line L, column C)" (Python 3.11+).
        raise ProfileFileError(
            f"{source}: not valid TOML: {exc}",
            hint="Fix the file (or delete it to go back to padlock's shipped profile).",
        ) from None
    if NAME.fullmatch(name) is None:
        raise ProfileFileError(
            f"{source}: {name!r} is not a profile name: lower-case letters, digits and '-'.",
            hint="Rename the file.",
        )
    reader = _Reader(doc, text, source)
    return reader.profile(name), reader.boolean(doc, "enabled", default=True)


class _Reader:
    """The schema, checked key by key; every refusal names the key and its line."""

    def __init__(self, doc: Mapping[str, Any], text: str, source: str) -> None:
        self.doc = doc
        self.lines = text.splitlines()
        self.source = source

    def fail(self, key: str, reason: str) -> ProfileFileError:
        line = _line_of(self.lines, key)
        where = f"{self.source}:{line}" if line else self.source
        return ProfileFileError(
            f"{where}: {key}: {reason}",
            hint="Fix the profile file; docs/ca-operations.md lists every key.",
        )

    def unknown(self, table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    prefix + key, "unknown key (known: " + ", ".join(sorted(allowed)) + ")"
                )

    def value(self, table: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
        if key not in table:
            raise self.fail(path, "missing")
        found = table[key]
        if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
            raise self.fail(path, f"must be a {kind.__name__}, not {type(found).__name__}")
        return found

    def boolean(self, table: Mapping[str, Any], key: str, default: bool) -> bool:
        return bool(self.value(table, key, bool, key)) if key in table else default

    def strings(self, table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        found = self.value(table, key, list, path)
        if not all(isinstance(v, str) for v in found) or len(set(found)) != len(found):
            raise self.fail(path, "must be a list of distinct strings")
        return tuple(found)

    def duration(self, table: Mapping[str, Any], key: str, path: str) -> dt.timedelta:
        text = self.value(table, key, str, path)
        match = _DURATION.fullmatch(text)
        if match is None:
            raise self.fail(path, f'{text!r} is not a duration such as "90d" or "160h"')
        unit = "days" if match[2] == "d" else "hours"
        return dt.timedelta(**{unit: int(match[1])})

    def profile(self, name: str) -> Profile:
        doc = self.doc
        self.unknown(doc, _TOP_KEYS, "")
        hierarchy_text = self.value(doc, "hierarchy", str, "hierarchy")
        if hierarchy_text not in tuple(Hierarchy):
            raise self.fail("hierarchy", 'must be "trusted" or "test"')
        hierarchy = Hierarchy(hierarchy_text)
        validation = self.value(doc, "validation", str, "validation")
        if validation not in _VALIDATIONS:
            raise self.fail("validation", "must be one of " + ", ".join(_VALIDATIONS))
        pkilint = self.boolean(doc, "pkilint", default=hierarchy is Hierarchy.TRUSTED)
        if hierarchy is Hierarchy.TRUSTED and (validation == "none" or not pkilint):
            raise self.fail(
                "validation" if validation == "none" else "pkilint",
                "a trusted profile validates every name (BR 3.2.2.4) and is linted before"
                " signing (BR 4.3.1.2)",
            )
        aliases = self.strings(doc, "aliases", "aliases") if "aliases" in doc else ()
        for alias in aliases:
            if NAME.fullmatch(alias) is None or alias == name:
                raise self.fail("aliases", f"{alias!r} cannot be an alias of {name}")
        default, limit, reuse = self.validity()
        subject = self.subject(validation)
        extensions = self.extensions()
        policy = _policy(extensions)
        if (policy == OID_OV) != (validation == "organization"):
            raise self.fail(
                "extensions.certificatePolicies.policies",
                f'{OID_OV} (OV) goes with validation = "organization", {OID_DV} (DV) with'
                " the others (BR 7.1.6.1)",
            )
        san = next((r for r in extensions if r.name == "subjectAltName"), None)
        return Profile(
            name=name,
            hierarchy=hierarchy,
            default_days=_whole_days(default),
            cap_days=None if limit is None else _whole_days(limit),
            policy_oid=policy,
            needs_validation=validation != "none",
            needs_organization=validation == "organization",
            pkilint=pkilint,
            description=self.value(doc, "description", str, "description"),
            ip_addresses=san is not None and "iPAddress" in san.values,
            reuse_cap_days=reuse,
            aliases=aliases,
            default_validity=default if default % dt.timedelta(days=1) else None,
            max_validity=limit if limit is not None and limit % dt.timedelta(days=1) else None,
            subject=subject,
            extensions=extensions,
        )

    def validity(self) -> tuple[dt.timedelta, dt.timedelta | None, int | None]:
        table = self.value(self.doc, "validity", dict, "validity")
        self.unknown(table, frozenset({"default", "maximum", "authorization_reuse"}), "validity.")
        default = self.duration(table, "default", "validity.default")
        limit = self.duration(table, "maximum", "validity.maximum") if "maximum" in table else None
        if limit is not None and default > limit:
            raise self.fail("validity.default", "is longer than validity.maximum")
        reuse = None
        if "authorization_reuse" in table:
            span = self.duration(table, "authorization_reuse", "validity.authorization_reuse")
            if span % dt.timedelta(days=1):
                raise self.fail("validity.authorization_reuse", 'must be whole days ("30d")')
            reuse = span.days
        return default, limit, reuse

    def subject(self, validation: str) -> tuple[str, ...]:
        table = self.value(self.doc, "subject", dict, "subject")
        self.unknown(table, frozenset({"attributes"}), "subject.")
        attributes = self.strings(table, "attributes", "subject.attributes")
        for attribute in attributes:
            if attribute not in SUBJECT_ATTRIBUTES:
                raise self.fail(
                    "subject.attributes",
                    f"padlock does not write {attribute!r} (it writes: "
                    + ", ".join(SUBJECT_ATTRIBUTES)
                    + ")",
                )
        has_org = {"organizationName", "countryName"} <= set(attributes)
        if validation == "organization" and not has_org:
            raise self.fail(
                "subject.attributes",
                "an organization-validated profile names the organization and its country"
                " (BR 7.1.2.7.4)",
            )
        if validation != "organization" and set(attributes) & _ORGANIZATION_ATTRIBUTES:
            raise self.fail(
                "subject.attributes",
                "only an organization-validated profile carries organization fields (BR 7.1.2.7.2)",
            )
        return attributes

    def extensions(self) -> tuple[ExtensionRule, ...]:
        table = self.value(self.doc, "extensions", dict, "extensions")
        rules: list[ExtensionRule] = []
        for name, spec in table.items():
            path = f"extensions.{name}"
            if name not in EXTENSIONS:
                raise self.fail(
                    path,
                    "padlock does not write this extension (it writes: "
                    + ", ".join(EXTENSIONS)
                    + ")",
                )
            if not isinstance(spec, dict):
                raise self.fail(path, "must be a table such as { critical = false }")
            rules.append(self.extension(name, spec, path))
        return tuple(rules)

    def extension(self, name: str, spec: Mapping[str, Any], path: str) -> ExtensionRule:
        list_key, allowed = _VALUES.get(name, ("", frozenset()))
        self.unknown(spec, frozenset({"critical", list_key} - {""}), path + ".")
        if name == "subjectAltName":
            critical: bool | None = None
            if spec.get("critical") != IF_SUBJECT_EMPTY:
                raise self.fail(
                    f"{path}.critical", f'must be "{IF_SUBJECT_EMPTY}" (RFC 5280 4.2.1.6)'
                )
        else:
            critical = self.value(spec, "critical", bool, f"{path}.critical")
            expected = name in ("keyUsage", "basicConstraints")
            if critical != expected:
                raise self.fail(
                    f"{path}.critical", f"must be {str(expected).lower()} (BR 7.1.2.7.6)"
                )
        values: tuple[str, ...] = ()
        if list_key:
            values = self.strings(spec, list_key, f"{path}.{list_key}")
            wrong = [v for v in values if v not in allowed]
            if wrong or not values:
                raise self.fail(
                    f"{path}.{list_key}",
                    f"{', '.join(wrong) or 'an empty list'} not allowed here (allowed: "
                    + ", ".join(sorted(allowed))
                    + ")",
                )
        _require(self, name, values, path, list_key)
        return ExtensionRule(name, critical, values)


def _require(reader: _Reader, name: str, values: tuple[str, ...], path: str, key: str) -> None:
    """What each extension must hold whatever else it allows (BR 7.1.2.7)."""
    needs = {
        "keyUsage": "digitalSignature",
        "authorityInfoAccess": "caIssuers",
        "subjectAltName": "dNSName",
    }.get(name)
    if needs is not None and needs not in values:
        raise reader.fail(f"{path}.{key}", f"must include {needs} (BR 7.1.2.7)")
    if name == "certificatePolicies" and len(values) != 1:
        raise reader.fail(f"{path}.{key}", "names exactly one reserved policy (BR 7.1.6.1)")


def _policy(rules: tuple[ExtensionRule, ...]) -> str:
    for rule in rules:
        if rule.name == "certificatePolicies":
            return rule.values[0]
    return OID_DV  # unlisted: padlock still writes it, and the gate refuses the certificate


def _whole_days(span: dt.timedelta) -> int:
    """Days as BR 6.3.2 counts a validity period: any part of a day is a day."""
    return -(-span // dt.timedelta(days=1))


def _line_of(lines: list[str], path: str) -> int | None:
    """The line (from 1) where the dotted key ``path`` is written: under its table header
    (``[a.b]``), as a dotted key, or inside an inline table. None when not found (a
    missing key: then the table's header, if any)."""
    parts = path.split(".")
    header = re.compile(r"\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    table: list[str] = []
    best: int | None = None
    for number, line in enumerate(lines, start=1):
        found = header.match(line)
        if found:
            table = [p.strip().strip('"') for p in found[1].split(".")]
            if table == parts[: len(table)] and best is None:
                best = number
            continue
        key = line.split("=", 1)[0].strip()
        if "=" not in line or not key:
            continue
        full = table + [p.strip().strip('"') for p in key.split(".")]
        if full == parts:
            return number
        if full == parts[: len(full)] and parts[len(full)] in line.split("=", 1)[1]:
            return number  # an inline table holding the key
    return best
