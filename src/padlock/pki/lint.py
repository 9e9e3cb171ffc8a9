"""Pre-issuance linting with pkilint, in-process (BR 4.3.1.2).

The CA lints every certificate it is about to sign (padlock signs the same
to-be-signed data with a throwaway key first), and can lint its CRLs and OCSP
responses the same way. pkilint's validators are expensive to build (about 0.2 s)
and cheap to run, so each kind's validator is built once, on first use or by
:func:`warm_up`, and reused. A DV certificate lints in about 2 ms here: besides
asking each validator only where it can apply, the values that repeat from one
certificate to the next are decoded once and kept (see "loading a certificate"),
with the same findings as pkilint's own loader and traversal (tests/pki/test_lint.py).

Findings keep pkilint's severities: FATAL, ERROR, WARNING, NOTICE, INFO (and DEBUG).
Anything at ERROR or worse stops issuance (:func:`raise_on_errors`), except findings
listed in :data:`EXPECTED_FINDINGS`, each with the reason it is there by design.

Pure: DER in, a :class:`LintReport` out; pkilint reads no clock (the validity rules
that changed over time are chosen by the certificate's own notBefore).
"""

from __future__ import annotations

import enum
import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pkilint import document, finding_filter, loader, pkix, validation
from pkilint.cabf import cabf_crl, serverauth
from pkilint.cabf.serverauth import serverauth_constants
from pkilint.pkix import certificate, crl, extension, general_name, name, ocsp
from pyasn1.error import PyAsn1Error
from pyasn1.type.univ import Choice, SequenceAndSetBase, SequenceOfAndSetOfBase
from pyasn1_alt_modules import rfc5280
from pyasn1_fasder import decode_der

from padlock.errors import LintFailed


class Severity(enum.IntEnum):
    """pkilint's severities, most severe first (the same names and order)."""

    FATAL = 0
    ERROR = 1
    WARNING = 2
    NOTICE = 3
    INFO = 4
    DEBUG = 5


class CertKind(enum.StrEnum):
    """What a certificate is meant to be, which picks pkilint's rule set."""

    DV = "dv"  # DV subscriber (server) certificate, policy 2.23.140.1.2.1
    OV = "ov"  # OV subscriber certificate, policy 2.23.140.1.2.2
    ROOT = "root"  # root CA certificate
    INTERMEDIATE = "intermediate"  # padlock's issuing CAs: TLS, not name-constrained
    OCSP_RESPONDER = "ocsp-responder"  # delegated OCSP responder certificate


_PKILINT_TYPES: Mapping[CertKind, serverauth_constants.CertificateType] = {
    CertKind.DV: serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE,
    CertKind.OV: serverauth_constants.CertificateType.OV_FINAL_CERTIFICATE,
    CertKind.ROOT: serverauth_constants.CertificateType.ROOT_CA,
    CertKind.INTERMEDIATE: serverauth_constants.CertificateType.INTERNAL_UNCONSTRAINED_TLS_CA,
    CertKind.OCSP_RESPONDER: serverauth_constants.CertificateType.OCSP_RESPONDER,
}

EXPECTED_FINDINGS: Mapping[str, str] = MappingProxyType({})
"""Finding codes that are there by design, each with its reason. None yet."""

UNDECODABLE = "padlock.lint.undecodable"
"""The code of the FATAL finding for input pkilint cannot decode at all."""


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str = ""
    where: str = ""  # the path of the ASN.1 node pkilint found it at

    @property
    def is_error(self) -> bool:
        return self.severity <= Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.severity.name} {self.code}"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class LintReport:
    """What pkilint found. ``findings`` excludes those listed in :data:`EXPECTED_FINDINGS`."""

    kind: str  # pkilint's name of what was linted, e.g. "DV-FINAL-CERTIFICATE", "CRL"
    findings: tuple[Finding, ...]
    expected: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity ERROR or worse (FATAL)."""
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors


def raise_on_errors(report: LintReport) -> None:
    """Raise :class:`LintFailed` naming every error code, when the report has errors."""
    errors = report.errors
    if not errors:
        return
    codes = ", ".join(dict.fromkeys(f.code for f in errors))
    raise LintFailed(
        f"Pre-issuance linting (pkilint, {report.kind}) found {len(errors)}"
        f" error{'s' if len(errors) != 1 else ''}: {codes}. Nothing was signed.",
        hint="This is a fault in padlock's certificate profile, not in the request: report"
        " it with these codes. A finding that is there by design belongs in"
        " padlock.pki.lint.EXPECTED_FINDINGS with its reason. Details: "
        + "; ".join(str(f) for f in errors),
    )


# --- the linters, built once --------------------------------------------------------------

# pkilint's containers ask every validator whether it applies to every node of the
# document (a DV certificate: about 7,000 questions for some 330 nodes), and most of
# the answers depend only on the node's path and the type of its value. Those answers
# are kept per container, keyed by (path, type); whatever depends on anything else is
# still asked every time, so each validator runs on exactly the nodes, in exactly the
# order, pkilint's own traversal gives (tests/pki/test_lint.py compares the two).
#
# NodeVisitor.match checks, in order: path, path_re, pdu_class, pdu_supertype,
# predicate, and fails at the first that does not hold. The first three depend on
# (path, type) alone. These overrides of match call NodeVisitor.match first and fail
# when it fails, so the same three are a sound first filter for them too:
_MATCH_CALLS_BASE_FIRST = frozenset(
    {
        "pkilint.validation.TypeMatchingValidator.match",
        "pkilint.pkix.extension.ExtensionCriticalityValidator.match",
        "pkilint.pkix.certificate.certificate_extension.ExtendedKeyUsageCriticalityValidator.match",
        "pkilint.cabf.cabf_name.ValidCountryCodeValidatorBase.match",
        "pkilint.cabf.serverauth.serverauth_extension.EvCpsUriPresenceValidator.match",
    }
)
_BASE_MATCH = document.NodeVisitor.match
_DISPATCH_KEPT = 20_000  # (path, type) answers kept per container, at most


def _static_match(validator: Any, path: str, pdu: Any) -> bool:
    """NodeVisitor.match's first three tests (path, path_re, pdu_class)."""
    if validator._path is not None and validator._path != path:
        return False
    if validator._path_re is not None and validator._path_re.match(path) is None:
        return False
    return validator._pdu_class is None or isinstance(pdu, validator._pdu_class)


def _match_kind(validator: Any) -> int:
    """0: match must always be asked; 1: the first three tests decide it whole;
    2: when they fail it fails, when they pass match must be asked."""
    function = type(validator).match
    if function is _BASE_MATCH:
        simple = validator._pdu_supertype is None and validator._predicate is None
        return 1 if simple else 2
    name = f"{function.__module__}.{function.__qualname__}"
    return 2 if name in _MATCH_CALLS_BASE_FIRST else 0


def _dispatching(container: validation.ValidatorContainer) -> None:
    """Give ``container`` (and every container inside it) the traversal described above."""
    validators = list(container.validators)
    kinds = [_match_kind(v) for v in validators]
    plans: dict[tuple[str, type], list[tuple[Any, bool]]] = {}

    def plan(node: Any) -> list[tuple[Any, bool]]:
        key = (node.path, type(node.pdu))
        found = plans.get(key)
        if found is None:
            found = []
            for v, kind in zip(validators, kinds, strict=True):
                if kind == 0:
                    found.append((v, True))
                elif _static_match(v, node.path, node.pdu):
                    found.append((v, kind == 2))
            if len(plans) >= _DISPATCH_KEPT:
                plans.clear()
            plans[key] = found
        return found

    def validate_rec(node: Any, results: list[Any]) -> None:
        for v, ask in plan(node):
            if ask and not v.match(node):
                continue
            result = v.validate_wrapper(node)
            if isinstance(result, list):
                results += result
            else:
                results.append(result)
        for child in node.children.values():
            validate_rec(child, results)

    container._validate_rec = validate_rec
    for v in validators:
        if isinstance(v, validation.ValidatorContainer):
            _dispatching(v)
        elif isinstance(v, validation.DecodingValidator):
            decoder = v.decode_func
            if isinstance(decoder, document.ValueDecoder):
                _keeping_decodes(decoder)


# A node's children follow from its value alone (PDUNode._generate_child_nodes): the
# children of a kept value are the same every time, so their names and values are
# worked out once, when the value is kept, and each document's nodes are made from that.
# The nodes are pkilint's own PDUNode, with the attributes its constructor sets.
_SHAPES_KEPT = 16_384  # kept values whose children are known, at most


class _Shape:
    __slots__ = ("children", "pdu")

    def __init__(self, pdu: Any) -> None:
        self.pdu = pdu
        self.children = tuple((n, _Shape(child)) for n, child in _child_values(pdu))


def _child_values(pdu: Any) -> list[tuple[str, Any]]:
    """What PDUNode._generate_child_nodes makes a node of, without making the nodes."""
    if isinstance(pdu, Choice):
        return [(pdu.getName(), pdu.getComponent())]
    if isinstance(pdu, SequenceOfAndSetOfBase):
        return [(str(i), component) for i, component in enumerate(pdu)]
    if isinstance(pdu, SequenceAndSetBase):
        return [(n, value) for n, value in pdu.items() if value.isValue]
    return []


_SHAPES: dict[int, _Shape] = {}  # by id of the value, which the shape holds


def _keep_shape(pdu: Any) -> _Shape:
    shape = _SHAPES.get(id(pdu))
    if shape is None or shape.pdu is not pdu:
        if len(_SHAPES) >= _SHAPES_KEPT:
            _SHAPES.clear()
        shape = _SHAPES[id(pdu)] = _Shape(pdu)
    return shape


def _bare_node(doc: Any, name: str, pdu: Any, parent: Any) -> Any:
    """A PDUNode with what its constructor sets but its children (the caller adds them)."""
    node = object.__new__(document.PDUNode)
    node.document = doc
    node.name = name
    node.pdu = pdu
    node.parent = parent
    node.path = name if parent is None else f"{parent.path}.{name}"
    return node


def _grown(doc: Any, name: str, shape: _Shape, parent: Any) -> Any:
    node = _bare_node(doc, name, shape.pdu, parent)
    node.children = {n: _grown(doc, n, s, node) for n, s in shape.children}
    return node


def _made(doc: Any, name: str, pdu: Any, parent: Any) -> Any:
    """PDUNode(doc, name, pdu, parent), the children of kept values from their shapes."""
    shape = _SHAPES.get(id(pdu))
    if shape is not None and shape.pdu is pdu:
        return _grown(doc, name, shape, parent)
    node = _bare_node(doc, name, pdu, parent)
    node.children = {n: _made(doc, n, child, node) for n, child in _child_values(pdu)}
    return node


def _appended(doc: Any, pdu: Any, parent: Any) -> Any:
    """document.create_and_append_node_from_pdu for a kept value."""
    name = document.get_node_name_for_pdu(pdu)
    node = _grown(doc, name, _keep_shape(pdu), parent)
    if parent is not None:
        parent.children[name] = node
    return node


# Most values a decoding validator decodes are the same bytes in every certificate of
# a profile: the issuer's name, AIA, CRL DP, policies, EKU, key usage, the curve. The
# value decoded from the same bytes with the same schema object is the same value, and
# nothing in pkilint changes a decoded value, so the value is kept and only its node,
# which belongs to one document, is made anew. Failures are not kept: each raises anew.
_DECODES_KEPT = 4_096  # values kept per decoder, at most


def _keeping_decodes(decoder: document.ValueDecoder) -> None:
    if getattr(decoder, "_padlock_keeps", False):
        return
    plain = decoder.decode_value
    kept: dict[tuple[bytes, int], tuple[Any, Any]] = {}

    def decode_value(node: Any, type_node: Any, value_node: Any, pdu_type: Any) -> Any:
        if value_node.children:  # decode_substrate's rule: a value decoded is not redone
            return plain(node, type_node, value_node, pdu_type)
        try:
            substrate = bytes(decoder.retrieve_substrate(value_node))
        except (TypeError, ValueError, PyAsn1Error):
            return plain(node, type_node, value_node, pdu_type)
        key = (substrate, id(pdu_type))
        found = kept.get(key)
        if found is not None and found[0] is pdu_type:
            return _appended(value_node.document, found[1], value_node)
        made = plain(node, type_node, value_node, pdu_type)
        if made is not None:
            if len(kept) >= _DECODES_KEPT:
                kept.clear()
            kept[key] = (pdu_type, made.pdu)
            _keep_shape(made.pdu)
        return made

    decoder.decode_value = decode_value
    decoder._padlock_keeps = True


class _Linter:
    """One pkilint validator with its finding filters, built on first use, then reused."""

    def __init__(self, build: Callable[[], tuple[Any, list[Any]]]) -> None:
        self._build = build
        self._built: tuple[Any, list[Any]] | None = None
        self._lock = threading.Lock()

    def run(self, root: Any) -> list[Any]:
        with self._lock:  # pkilint does not promise its validators are thread-safe
            if self._built is None:
                self._built = self._build()
            validator, filters = self._built
            results = validator.validate(root)
        if filters:
            results, _ = finding_filter.filter_results(filters, results)
        return list(results)

    def warm_up(self) -> None:
        with self._lock:
            if self._built is None:
                self._built = self._build()


def _serverauth_builder(
    cert_type: serverauth_constants.CertificateType, fast: bool = True
) -> Callable[[], tuple[Any, list[Any]]]:
    def build() -> tuple[Any, list[Any]]:
        # What pkilint's lint_cabf_serverauth_cert does for one certificate type.
        validator = certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
        )
        if fast:
            _dispatching(validator)
        return validator, serverauth.create_serverauth_finding_filters(cert_type)

    return build


def _crl_builder(
    crl_type: crl.CertificateRevocationListType,
) -> Callable[[], tuple[Any, list[Any]]]:
    def build() -> tuple[Any, list[Any]]:
        # What pkilint's lint_crl does with --profile BR.
        validator = crl.create_pkix_crl_validator_container(
            [
                pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
                pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
            ],
            [
                crl.create_issuer_validator_container([]),
                crl.create_validity_validator_container(
                    [cabf_crl.create_validity_period_validator(crl_type)]
                ),
                crl.create_extensions_validator_container([]),
                cabf_crl.CabfCrlReasonCodeAllowlistValidator(crl_type),
            ],
        )
        return validator, []

    return build


def _ocsp_build() -> tuple[Any, list[Any]]:
    # What pkilint's lint_ocsp_response does (RFC 6960; pkilint has no BR-specific rules).
    validator = ocsp.create_pkix_ocsp_response_validator_container(
        [
            ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    return validator, []


_SERVERAUTH: dict[serverauth_constants.CertificateType, _Linter] = {
    t: _Linter(_serverauth_builder(t)) for t in serverauth_constants.CertificateType
}
_CRL = _Linter(_crl_builder(crl.CertificateRevocationListType.CRL))
_ARL = _Linter(_crl_builder(crl.CertificateRevocationListType.ARL))
_OCSP = _Linter(_ocsp_build)


def warm_up(kinds: Iterable[CertKind] = tuple(CertKind)) -> None:
    """Build the validators now (about 0.2 s each) rather than on the first lint."""
    for kind in kinds:
        _SERVERAUTH[_PKILINT_TYPES[kind]].warm_up()


# --- syntax answers kept -------------------------------------------------------------------

# pkilint asks the ``validators`` package whether each URI and DNS name is well formed
# (validators.url, .domain, .email), through general_name.validators_predicate. The
# answer depends on the string alone, but each call first inspects the function's
# signature (inspect.getfullargspec): a tenth of a DV lint went there, mostly for the
# CA's own AIA and CRL URIs, the same in every certificate. The answers are kept.
_plain_predicate = general_name.validators_predicate


@functools.lru_cache(maxsize=8_192)
def _kept_predicate(func: Callable[[str], Any], value: str) -> bool:
    return bool(_plain_predicate(func, value))


def _validators_predicate(func: Callable[[str], Any], value: Any) -> bool:
    if type(value) is not str:
        return bool(_plain_predicate(func, value))
    return _kept_predicate(func, value)


general_name.validators_predicate = _validators_predicate


# --- loading a certificate ----------------------------------------------------------------

# Decoding the whole certificate into pyasn1 objects took a fifth of a DV lint. DER is
# decoded part by part: a SEQUENCE's value is the values of its elements, each decoded
# from its own bytes with its own schema. So a certificate of the one shape padlock
# issues (v3; serial, signature, issuer, validity, subject, key; extensions; no unique
# ids) is split with strict DER framing, each element is decoded by pyasn1-fasder (the
# decoder pkilint uses) with the schema pkilint's would give it, and the values are put
# together as that decoder does; the elements that repeat from certificate to
# certificate (version, algorithms, issuer, most extensions) are decoded once and kept.
# Anything of another shape, or framed otherwise, is decoded whole, as pkilint does.
# tests/pki/test_lint.py compares the node trees and the findings of both.

_SET = {"verifyConstraints": False, "matchTags": False, "matchConstraints": False}
_V3 = bytes.fromhex("a003020102")
_TBS_TAGS = [0xA0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xA3]


def _elements(der: bytes, start: int, end: int) -> list[tuple[int, int, int, int]] | None:
    """(tag, start, content start, end) of each element in der[start:end]; None unless
    every one is framed as DER frames it (one-octet tags, definite minimal lengths)."""
    out = []
    while start < end:
        if start + 2 > end:
            return None
        tag, first = der[start], der[start + 1]
        if tag & 0x1F == 0x1F:
            return None
        if first < 0x80:
            head, size = start + 2, first
        else:
            count = first & 0x7F
            head = start + 2 + count
            if not 1 <= count <= 3 or head > end or der[start + 2] == 0:
                return None
            size = int.from_bytes(der[start + 2 : head], "big")
            if size < 0x80:
                return None
        stop = head + size
        if stop > end:
            return None
        out.append((tag, start, head, stop))
        start = stop
    return out


class _CertificateDecoder:
    """Certificates of padlock's shape decoded part by part, the repeating parts kept."""

    def __init__(self) -> None:
        self._certificate = rfc5280.Certificate()
        outer = self._certificate.componentType
        self._tbs = outer["tbsCertificate"].asn1Object
        self._outer_specs = [nt.asn1Object for nt in outer.namedTypes]
        inner = self._tbs.componentType
        self._tbs_specs = [inner[n].asn1Object for n in _TBS_NAMES]
        self._extensions = inner["extensions"].asn1Object
        self._extension = self._extensions.componentType
        self._kept: dict[tuple[bytes, int], Any] = {}

    def _kept_or_decoded(self, part: bytes, spec: Any) -> Any:
        key = (part, id(spec))
        value = self._kept.get(key)
        if value is None:
            value = decode_der(part, asn1Spec=spec)[0]
            if len(self._kept) >= _DECODES_KEPT:
                self._kept.clear()
            self._kept[key] = value
            _keep_shape(value)
        return value

    def __call__(self, der: bytes) -> Any | None:
        """The pyasn1 Certificate, or None when ``der`` is not of the shape decoded here."""
        top = _elements(der, 0, len(der))
        if top is None or len(top) != 1 or top[0][0] != 0x30:
            return None
        parts = _elements(der, top[0][2], top[0][3])
        if parts is None or [p[0] for p in parts] != [0x30, 0x30, 0x03]:
            return None
        fields = _elements(der, parts[0][2], parts[0][3])
        if fields is None or [f[0] for f in fields] != _TBS_TAGS:
            return None
        if der[fields[0][1] : fields[0][3]] != _V3:
            return None
        wrapped = _elements(der, fields[7][2], fields[7][3])
        if wrapped is None or len(wrapped) != 1 or wrapped[0][0] != 0x30:
            return None
        listed = _elements(der, wrapped[0][2], wrapped[0][3])
        if not listed or any(e[0] != 0x30 for e in listed):
            return None
        tbs = self._tbs.clone()
        for i, (spec, (_tag, start, _head, stop)) in enumerate(
            zip(self._tbs_specs, fields[:7], strict=True)
        ):
            part = der[start:stop]
            value = (
                decode_der(part, asn1Spec=spec)[0]
                if i in _TBS_UNIQUE
                else self._kept_or_decoded(part, spec)
            )
            tbs.setComponentByPosition(i, value, **_SET)
        extensions = self._extensions.clone()
        for i, (_tag, start, _head, stop) in enumerate(listed):
            value = self._kept_or_decoded(der[start:stop], self._extension)
            extensions.setComponentByPosition(i, value, **_SET)
        tbs.setComponentByPosition(_EXTENSIONS_AT, extensions, **_SET)
        cert = self._certificate.clone()
        cert.setComponentByPosition(0, tbs, **_SET)
        algorithm = der[parts[1][1] : parts[1][3]]
        cert.setComponentByPosition(
            1, self._kept_or_decoded(algorithm, self._outer_specs[1]), **_SET
        )
        signature = der[parts[2][1] : parts[2][3]]
        cert.setComponentByPosition(
            2, decode_der(signature, asn1Spec=self._outer_specs[2])[0], **_SET
        )
        return cert


_TBS_NAMES = (
    "version",
    "serialNumber",
    "signature",
    "issuer",
    "validity",
    "subject",
    "subjectPublicKeyInfo",
)
_TBS_UNIQUE = frozenset({1, 4, 6})  # serial, validity, key: new in every certificate
_EXTENSIONS_AT = 9  # after issuerUniqueID and subjectUniqueID, which padlock never sets
_CERTIFICATES = _CertificateDecoder()


def load_certificate(cert_der: bytes) -> Any:
    """pkilint's certificate document for ``cert_der``, decoded as described above."""
    if not cert_der.startswith(b"\x30"):
        raise ValueError("Substrate is not DER-encoded")
    doc = certificate.RFC5280Certificate(None, cert_der, "certificate", None)
    try:
        pdu = _CERTIFICATES(cert_der)
    except (ValueError, PyAsn1Error):
        pdu = None  # decoded whole below, where pkilint says what is wrong
    if pdu is None:
        doc.decode()
    else:
        doc.root = _made(doc, document.get_node_name_for_pdu(pdu), pdu, None)
    return doc


# --- linting ------------------------------------------------------------------------------


def lint_serverauth(cert_der: bytes, kind: CertKind | None = None) -> LintReport:
    """Lint a certificate against the CA/Browser Forum TLS Baseline Requirements.

    ``kind`` picks the rule set; None detects it as pkilint does (self-issued: root;
    CA:TRUE: intermediate; the reserved policy OID: DV/OV/IV/EV subscriber). The CA
    should say what it means to issue, so that a certificate that came out wrong
    (say, CA:TRUE on a server certificate) is judged by the rules it was meant for.
    """
    try:
        doc = load_certificate(cert_der)
        cert_type = (
            serverauth.determine_certificate_type(doc) if kind is None else _PKILINT_TYPES[kind]
        )
    except (ValueError, PyAsn1Error) as exc:
        return _undecodable("CERTIFICATE", exc)
    return _report(cert_type.to_option_str, _SERVERAUTH[cert_type].run(doc.root))


def lint_crl(crl_der: bytes, *, authority: bool = False) -> LintReport:
    """Lint a CRL (or, with ``authority``, an ARL) against RFC 5280 and the BR CRL profile."""
    try:
        doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(crl_der, "crl")
    except (ValueError, PyAsn1Error) as exc:
        return _undecodable("ARL" if authority else "CRL", exc)
    return _report("ARL" if authority else "CRL", (_ARL if authority else _CRL).run(doc.root))


def lint_ocsp_response(response_der: bytes) -> LintReport:
    """Lint an OCSP response against RFC 6960."""
    try:
        doc = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(
            response_der, "ocsp-response"
        )
    except (ValueError, PyAsn1Error) as exc:
        return _undecodable("OCSP-RESPONSE", exc)
    return _report("OCSP-RESPONSE", _OCSP.run(doc.root))


def _report(kind: str, results: Iterable[Any]) -> LintReport:
    findings: list[Finding] = []
    expected: list[Finding] = []
    for result in results:
        for description in result.finding_descriptions:
            finding = Finding(
                severity=Severity[description.finding.severity.name],
                code=str(description.finding.code),
                message=str(description.message or ""),
                where=str(result.node.path),
            )
            (expected if finding.code in EXPECTED_FINDINGS else findings).append(finding)
    findings.sort(key=lambda f: f.severity)
    return LintReport(kind=kind, findings=tuple(findings), expected=tuple(expected))


def _undecodable(kind: str, exc: Exception) -> LintReport:
    return LintReport(
        kind=kind,
        findings=(Finding(Severity.FATAL, UNDECODABLE, f"pkilint cannot decode it: {exc}"),),
    )
