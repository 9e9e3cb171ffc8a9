"""Issuance: the one use case that makes a certificate, in an order that loses nothing.

1. every check that can refuse (CSR, key, names, profile) — before anything is stored;
2. reserve the serial and the to-be-signed data (committed, UNIQUE serial);
3. lint: padlock's own structural checks always, pkilint for trusted profiles;
4. sign with the issuing CA; 5. store the certificate (committed); only then answer.

A crash between 2 and 5 leaves a visible reservation, never a signed certificate
the database does not know.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from padlock.ca.audit import AuditEntry
from padlock.ca.ports.certificates import Store, StoreWrite
from padlock.ca.records import CertificateRecord, Reservation
from padlock.ca.revocation_settings import RevocationChoice, choice_for
from padlock.ca.signer import IssuingCas, Signer, ca_urls, successor_id
from padlock.errors import (
    ConfigError,
    Conflict,
    LintFailed,
    NotFound,
    PadlockError,
    PolicyError,
    WeakKey,
)
from padlock.pki import certcheck, certs, keypolicy, policy, profile_gate
from padlock.pki.csr import load_csr
from padlock.pki.profiles import PROFILES, Hierarchy, Profile, ProfileSet, validity
from padlock.pki.schedule import rules_day

if TYPE_CHECKING:
    from padlock.pki.lint import Finding

Clock = Callable[[], dt.datetime]
log = logging.getLogger("padlock.issuance")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IssuerRetired(Conflict):
    """An issuing CA was asked to issue after ``ca new-issuer`` recorded its successor (the
    Issuer takes the successor up and reserves again; a conflict if it reaches a caller)."""


@dataclass(frozen=True)
class IssueRequest:
    csr: bytes  # PEM or DER
    profile: str
    actor: str = "cli"
    request_id: str | None = None
    days: int | None = None
    domain_control_shown: bool = False  # the caller has validated every name
    organization: certs.Organization | None = None  # verified fields, for ov


@dataclass(frozen=True)
class CheckedRequest:
    """What :meth:`Issuer.checked` found: a request every refusing check has passed.

    Issuing it with ``checked=`` skips checking it again microseconds later, and only
    if the request issued asks for exactly what was checked (CSR, profile, validity,
    domain control, organization).
    """

    request: IssueRequest
    profile: Profile
    facts: certs.CSRFacts
    dns: list[str]
    ips: list[str]
    key_fingerprint: str
    spki: bytes

    def covers(self, request: IssueRequest) -> bool:
        r = self.request
        return (
            r.csr == request.csr
            and r.profile == request.profile
            and r.days == request.days
            and r.domain_control_shown == request.domain_control_shown
            and r.organization == request.organization
        )


@dataclass(frozen=True)
class IssuedCertificate:
    record: CertificateRecord
    certificate_pem: bytes
    chain_pem: bytes  # the issuing CA, then the certificates above it except the root
    root_pem: bytes

    @property
    def fullchain_pem(self) -> bytes:
        return self.certificate_pem + self.chain_pem


@dataclass(frozen=True)
class IssuancePolicy:
    base_url: str  # the PKI base URL: AIA, CRL DP and OCSP in every certificate
    allow_internal_in_test: bool = False
    # The test hierarchy's rules run this far ahead (pki/schedule.py); never the trusted one's.
    test_clock_offset: dt.timedelta = dt.timedelta(0)
    # Per issuer: CRL shards and OCSP (ca.json); an issuer not named keeps the full CRL
    # and OCSP, as before either was a choice.
    revocation: Mapping[str, RevocationChoice] = field(default_factory=dict)


class BlockedKeys(Protocol):
    """Keys revoked for keyCompromise (``store.revocation.RevocationRepository``)."""

    def is_key_blocked(self, key_fingerprint: str) -> bool: ...

    def is_key_blocked_in(self, cursor: Any, key_fingerprint: str) -> bool:
        """The same question inside a write transaction: ``cursor`` is the one the store
        hands a :data:`~padlock.ca.ports.certificates.StoreWrite`."""
        ...


def _compromised_key() -> WeakKey:
    return WeakKey(
        "The CSR's key was revoked as compromised (keyCompromise): this CA will never"
        " certify it again.",
        hint="Make a new key (padlock key new) and a new CSR with it.",
    )


class IssuerWatch(Protocol):
    """Whether ``ca new-issuer`` has succeeded an issuing CA, and this host's issuing CAs
    again (built in ``wiring``: the identity repository and the data dir)."""

    def recorded_in(self, cursor: Any, issuer: str) -> bool:
        """Whether ``issuer`` is a recorded CA (a successor, here), read in the
        reservation's write transaction (``cursor``: the one the store hands a StoreWrite)."""
        ...

    def unknown(self, known: set[str]) -> bool:
        """Whether the database records an issuing CA not among ``known`` ids."""
        ...

    def reload(self) -> IssuingCas:
        """This host's issuing CAs, read again and checked against the database's;
        ConfigError when the data dir lacks the successor another host made."""
        ...


@dataclass(frozen=True)
class _Issuing:
    """What the Issuer made once from its issuing CAs, swapped whole when they change:
    the signers, what every certificate of a profile shares, the "no unlisted field" gate
    of each profile (what its issuing CA's certificates must say), each CA's chain in PEM."""

    signers: Mapping[Hierarchy, Signer]
    by_id: Mapping[str, Signer]
    templates: Mapping[str, certs.LeafTemplate]
    pems: Mapping[str, tuple[bytes, bytes]]
    gates: Mapping[str, profile_gate.Gate]

    @classmethod
    def of(cls, cas: IssuingCas, settings: IssuancePolicy, profiles: ProfileSet) -> _Issuing:
        signers = dict(cas.current)
        urls = {h: _urls_of(settings, s.issuer) for h, s in signers.items()}
        templates = {
            p.name: certs.LeafTemplate(
                p,
                signers[p.hierarchy].certificate,
                urls[p.hierarchy],
                signers[p.hierarchy].signature_algorithm,
            )
            for p in profiles.values()
            if p.hierarchy in signers
        }
        issuing = {
            h: profile_gate.issuing_ca(
                s.certificate,
                s.signature_algorithm,
                urls[h].issuer_cert,
                urls[h].ocsp,
                urls[h].every_crl(),
            )
            for h, s in signers.items()
        }
        gates = {
            p.name: profile_gate.Gate(p, issuing[p.hierarchy])
            for p in profiles.values()
            if p.hierarchy in issuing
        }
        every = {s.issuer: s for s in (*cas.every, *signers.values())}
        pems = {i: _chain_pems(s) for i, s in every.items()}
        return cls(signers, every, templates, pems, gates)


class Issuer:
    """Issues certificates for every profile; holds Signers, never keys.

    ``signers`` are the issuing CAs that issue (one per hierarchy), or an
    :class:`IssuingCas` that adds the older generations, which only give their chain to
    what they issued. With a ``watch``, every reservation also asks whether ``ca
    new-issuer`` recorded a successor of its issuing CA; if so the Issuer loads the new
    one and reserves again with it: a succeeded CA issues nothing new."""

    def __init__(
        self,
        store: Store,
        signers: Mapping[Hierarchy, Signer] | IssuingCas,
        settings: IssuancePolicy,
        blocklist: keypolicy.Blocklist | None = None,
        clock: Clock = utcnow,
        blocked_keys: BlockedKeys | None = None,
        watch: IssuerWatch | None = None,
        profiles: ProfileSet = PROFILES,
    ) -> None:
        self.profiles = profiles
        self._store = store
        self._settings = settings
        self._blocklist = blocklist
        self._clock = clock
        self._blocked_keys = blocked_keys
        self._watch = watch
        host = urlsplit(settings.base_url).hostname
        self._pki_http = urlsplit(settings.base_url).scheme == "http"
        self._internal_host = host if host and not policy.is_public_host(host) else None
        cas = signers if isinstance(signers, IssuingCas) else IssuingCas(signers, ())
        # made once, not per certificate
        self._issuing = _Issuing.of(cas, settings, profiles)
        self._reload_lock = threading.Lock()
        self.generation = 0  # counts the changes of issuing CAs taken up (ca new-issuer)
        self._name_policies = {
            p.name: policy.for_profile(p, settings.allow_internal_in_test, profiles.ip_profiles())
            for p in profiles.values()
        }

    @property
    def issuing_cas(self) -> IssuingCas:
        """The issuing CAs in use: those that issue, and every one known."""
        state = self._issuing
        return IssuingCas(state.signers, tuple(state.by_id.values()))

    def signer_by_id(self, issuer: str) -> Signer | None:
        """An issuing CA by its id (``trusted-issuing-2``), older generations included."""
        return self._issuing.by_id.get(issuer)

    def refresh(self) -> IssuingCas:
        """:meth:`reload` when the database records an issuing CA this Issuer does not hold
        (the upkeep asks, so that a worker that issues nothing still answers for it)."""
        if self._watch is not None and self._watch.unknown(set(self._issuing.by_id)):
            return self.reload()
        return self.issuing_cas

    def reload(self) -> IssuingCas:
        """Take up the issuing CAs the watch finds (after ``ca new-issuer``)."""
        if self._watch is None:
            return self.issuing_cas
        with self._reload_lock:
            cas = self._watch.reload()
            if dict(cas.current) != dict(self._issuing.signers):
                self._issuing = _Issuing.of(cas, self._settings, self.profiles)
                self.generation += 1
                log.warning("issuing CAs now %s", ", ".join(s.issuer for s in cas.current.values()))
        return self.issuing_cas

    def _tolerated(self, finding: Finding) -> bool:
        """A CA run on a private base URL (a laptop, a lab) puts that host in AIA and CRL DP.

        pkilint rightly calls it an internal name (and a single-label host such as
        ``localhost`` an invalid URI); it is the operator's choice, made once at ``ca init``
        and reported by ``padlock doctor``, so only those findings, for that host, in those
        two extensions, are let through.
        """
        host = self._internal_host
        if host is None or not (
            "authorityInfoAccess" in finding.where or "cRLDistributionPoints" in finding.where
        ):
            return False
        if finding.code == "cabf.internal_domain_name":
            return f'"{host}"' in finding.message
        if finding.code == "pkix.invalid_uri_syntax":
            prefixes = (f'"http://{host}/', f'"http://{host}:')
            return any(p in finding.message for p in prefixes)
        return False

    def signer_for(self, hierarchy: Hierarchy) -> Signer:
        return self._issuing.signers[hierarchy]

    # -- step 1: everything that can refuse, before any state --------------------------------

    def check(self, request: IssueRequest) -> tuple[Profile, certs.CSRFacts, list[str], list[str]]:
        """Every check that can refuse ``request``, with nothing stored; what it asks for."""
        profile, facts, dns, ips, _key_fp, _spki = self._check(request)
        return profile, facts, dns, ips

    def checked(self, request: IssueRequest) -> CheckedRequest:
        """:meth:`check`, kept for :meth:`issue` (``checked=``)."""
        return CheckedRequest(request, *self._check(request))

    def _check(
        self, request: IssueRequest, blocked_keys: bool = True
    ) -> tuple[Profile, certs.CSRFacts, list[str], list[str], str, bytes]:
        """The checks; ``blocked_keys`` False leaves the blocked-key lookup to the caller
        (issue() makes it inside the reservation's transaction)."""
        profile = self.profiles.get_profile(request.profile)
        if profile.pkilint and not self._pki_http:
            raise _pki_url_fault(self._settings.base_url)
        csr = load_csr(request.csr)
        public_key = keypolicy.public_key_from_csr(csr)
        spki = keypolicy.public_key_info(csr, public_key)
        keypolicy.check_public_key(public_key, self._blocklist, spki)
        keypolicy.check_csr_proof_of_possession(csr, public_key)
        facts = certs.inspect_csr(csr, public_key)  # type: ignore[arg-type]
        key_fp = "sha256:" + hashlib.sha256(spki).hexdigest()  # keys.fingerprint, from the DER
        if (
            blocked_keys
            and self._blocked_keys is not None
            and self._blocked_keys.is_key_blocked(key_fp)
        ):
            raise _compromised_key()
        dns, ips = policy.check_identifiers(
            facts.dns_names, facts.ip_addresses, self._name_policies[profile.name]
        )
        if profile.needs_validation and not request.domain_control_shown:
            raise PolicyError(
                f"The {profile.name} profile needs proof of domain control for every name.",
                hint="Complete the domain checks first (or, as the CA operator who checked by"
                " other means, pass --i-have-validated).",
            )
        if profile.needs_organization and request.organization is None:
            raise PolicyError(
                "The ov profile needs organization details verified by a reviewer.",
                hint="Give --org/--country (and --locality/--state) that you have verified.",
            )
        return profile, facts, dns, ips, key_fp, spki

    # -- the whole use case ---------------------------------------------------------------------

    def issue(
        self,
        request: IssueRequest,
        also: Callable[[CertificateRecord], StoreWrite] | None = None,
        *,
        first: StoreWrite | None = None,
        checked: CheckedRequest | None = None,
    ) -> IssuedCertificate:
        """Issue ``request``'s certificate. ``also``, given the record the certificate will
        have, makes writes that are committed with it (what it was issued for); ``first``
        is committed with the reservation. ``checked`` is this request's :meth:`checked`."""
        if checked is not None and checked.covers(request):
            profile, facts, dns, ips = checked.profile, checked.facts, checked.dns, checked.ips
            key_fp, spki = checked.key_fingerprint, checked.spki
        else:
            profile, facts, dns, ips, key_fp, spki = self._check(request, blocked_keys=False)
        if self._blocked_keys is not None:
            # BR 4.9.1.1 / 6.1.1.3: a key revoked as compromised is refused in the very
            # transaction that would reserve its certificate, so a revocation committed
            # after an earlier look cannot slip through; the refusal rolls it all back.
            first = _refusing_blocked(self._blocked_keys, key_fp, first)
        now = self._clock()
        try:
            signer, gate, reserved = self._reserve(
                request, profile, facts, dns, ips, key_fp, spki, first, now
            )
        except IssuerRetired:  # ca new-issuer recorded a successor: take it up, once
            self.reload()
            signer, gate, reserved = self._reserve(
                request, profile, facts, dns, ips, key_fp, spki, first, now
            )
        reservation, draft, draft_der = reserved
        self._lint(request, profile, gate, reservation, draft, draft_der)

        # Steps 4 and 5: sign exactly the bytes reserved and linted, store, answer.
        der = signer.sign_tbs(reservation.tbs_der)
        sha256 = hashlib.sha256(der).hexdigest()
        issued_at = self._clock()
        expected = reservation.issued(der, sha256, issued_at)
        record = self._complete(
            expected,
            AuditEntry(
                "certificate.issued",
                request.actor,
                "certificate",
                format(reservation.serial, "x"),
                {"profile": request.profile, "request_id": request.request_id},
            ),
            None if also is None else also(expected),
        )
        return self._package(record, signer, certs.certificate_pem(der))

    def _reserve(
        self,
        request: IssueRequest,
        profile: Profile,
        facts: certs.CSRFacts,
        dns: list[str],
        ips: list[str],
        key_fp: str,
        spki: bytes,
        first: StoreWrite | None,
        now: dt.datetime,
    ) -> tuple[Signer, profile_gate.Gate, tuple[Reservation, x509.Certificate, bytes]]:
        """Step 2 of issuance: the serial and the to-be-signed data, committed before any
        signature (with ``first``); the issuing CA that signs it, the profile's gate for
        that CA, and the draft lint reads. A serial collision (2^-64 odds) draws again."""
        rules_on = rules_day(profile.hierarchy, now.date(), self._settings.test_clock_offset)
        not_before, not_after = validity(profile, now, request.days, rules_on)
        state = self._issuing  # one snapshot: the signer and its template belong together
        signer = state.signers[profile.hierarchy]
        template = state.templates[profile.name]
        gate = state.gates[profile.name]
        if self._watch is not None:
            first = _refusing_succeeded(self._watch, signer.issuer, first)
        names = dns + ips
        subject = template.subject_text(names[0])
        for _attempt in range(3):
            serial = certs.new_serial()
            serial_hex = format(serial, "x")
            tbs = template.tbs(
                facts.public_key,
                dns,
                ips,
                serial,
                not_before,
                not_after,
                request.organization,
                spki,
            )
            # What lint reads: the very fields to sign, parsed back by cryptography. For
            # pkilint (trusted profiles) they are signed by a throwaway key; padlock's own
            # checks (every profile) read no signature, so the test profile's has none.
            draft_der = (
                signer.rehearse(tbs)
                if profile.pkilint
                else certs.assemble_certificate(tbs, signer.signature_algorithm, b"")
            )
            draft = x509.load_der_x509_certificate(draft_der)
            if subject is None:
                subject = draft.subject.rfc4514_string()
            reservation = Reservation(
                serial=serial,
                hierarchy=profile.hierarchy.value,
                issuer=signer.issuer,
                profile=request.profile,
                request_id=request.request_id,
                subject=subject,
                names=tuple(names),
                not_before=not_before,
                not_after=not_after,
                tbs_der=tbs,
                reserved_at=now,
                key_fingerprint=key_fp,
            )
            try:
                self._store.reserve_certificate(
                    reservation,
                    AuditEntry(
                        "certificate.reserved",
                        request.actor,
                        "certificate",
                        serial_hex,
                        {
                            "profile": request.profile,
                            "names": names,
                            "request_id": request.request_id,
                        },
                    ),
                    first,
                )
                return signer, gate, (reservation, draft, draft_der)
            except IssuerRetired:
                raise
            except Conflict:
                continue
        raise PadlockError(  # pragma: no cover - three 128-bit collisions in a row
            "Could not reserve a unique serial number."
        )

    def _lint(
        self,
        request: IssueRequest,
        profile: Profile,
        gate: profile_gate.Gate,
        reservation: Reservation,
        draft: x509.Certificate,
        draft_der: bytes,
    ) -> None:
        """Step 3 of issuance: lint; any ERROR abandons the reservation, nothing is signed."""
        serial_hex = format(reservation.serial, "x")
        problems = certcheck.leaf_problems(draft, profile, reservation.tbs_der)
        # The "no unlisted field" gate: everything to be signed is listed in the profile.
        problems += [
            f"profile {profile.name}: {p}" for p in gate.refusals(draft, reservation.tbs_der)
        ]
        if not problems and profile.pkilint:
            from padlock.pki import lint  # pkilint takes 0.5 s to import: only when used

            kind = lint.CertKind.OV if profile.needs_organization else lint.CertKind.DV
            report = lint.lint_serverauth(draft_der, kind)
            problems = [str(f) for f in report.errors if not self._tolerated(f)]
        if problems:
            log.error(
                "pre-issuance lint refused certificate %s (%s, request %s): %s",
                serial_hex,
                profile.name,
                request.request_id,
                "; ".join(problems),
            )
            self._store.abandon_certificate(
                reservation.serial,
                AuditEntry(
                    "certificate.abandoned",
                    "system",
                    "certificate",
                    serial_hex,
                    {"lint": problems},
                ),
            )
            raise LintFailed(
                "Pre-issuance linting refused the certificate: " + "; ".join(problems),
                hint="Not your request: the CA's profile file or padlock is at fault; the CA"
                " operator finds the reason in the log and the audit log.",
            )

    def _complete(
        self, expected: CertificateRecord, event: AuditEntry, also: StoreWrite | None
    ) -> CertificateRecord:
        """Store the signed certificate, unless its key was revoked as compromised since the
        reservation (BR 4.9.1.1): asked inside the completing transaction, after the row is
        locked, so a revocation of the key either sees this certificate issued (and revokes
        it) or is seen here. A refusal marks the reservation abandoned, with the signed
        certificate's SHA-256 in the audit event; nothing is stored or answered."""
        assert expected.der is not None and expected.sha256 is not None
        assert expected.issued_at is not None
        if self._blocked_keys is not None:
            also = _refusing_blocked(self._blocked_keys, expected.key_fingerprint, also)
        try:
            return self._store.complete_certificate(
                expected.serial,
                expected.der,
                expected.sha256,
                expected.issued_at,
                event,
                expected,
                also,
            )
        except WeakKey as refusal:
            try:
                self._store.abandon_certificate(
                    expected.serial,
                    AuditEntry(
                        "certificate.abandoned",
                        "system",
                        "certificate",
                        expected.serial_hex,
                        {
                            "refused": "the key was revoked as compromised (keyCompromise)"
                            " after the reservation; the signed certificate was not stored",
                            "signed_sha256": expected.sha256,
                        },
                    ),
                )
            except PadlockError:
                raise refusal from None  # the reservation stays visible as reserved
            raise

    def package(self, record: CertificateRecord, signer: Signer | None = None) -> IssuedCertificate:
        if record.der is None:
            raise Conflict(f"Certificate {record.serial_hex} was reserved but never issued.")
        # Its own issuer's chain: a certificate of a succeeded issuing CA keeps it.
        signer = signer or self._issuing.by_id.get(record.issuer)
        if signer is None:
            raise NotFound(
                f"Certificate {record.serial_hex} was issued by {record.issuer}, an issuing CA"
                " this host does not hold."
            )
        pem = x509.load_der_x509_certificate(record.der).public_bytes(Encoding.PEM)
        return self._package(record, signer, pem)

    def _package(
        self, record: CertificateRecord, signer: Signer, certificate_pem: bytes
    ) -> IssuedCertificate:
        pems = self._issuing.pems.get(signer.issuer)
        if pems is None or signer is not self._issuing.by_id.get(signer.issuer):
            pems = _chain_pems(signer)
        chain, root = pems
        return IssuedCertificate(record, certificate_pem, chain, root)


def _urls_of(settings: IssuancePolicy, issuer: str) -> certs.CAUrls:
    choice = choice_for(settings.revocation, issuer)
    return ca_urls(settings.base_url, issuer, crl_shards=choice.crl_shards, ocsp=choice.ocsp)


def _pki_url_fault(pki_base_url: str) -> ConfigError:
    """Why trusted certificates cannot carry this (not http) PKI base URL.

    BR 7.1.2.7.7 and 7.1.2.11.2 allow only http:// in AIA and CRL DP, so pkilint would
    refuse every certificate: say what to run instead, before anything is reserved."""
    return ConfigError(
        f"This CA writes {pki_base_url} into its certificates (AIA, CRL DP, OCSP), and the"
        " Baseline Requirements allow only http:// there, so it cannot issue trusted"
        " certificates.",
        hint="Point them at plain http: padlock ca set-pki-url http://HOST (then padlock"
        " serve --tls answers those paths over HTTP on --pki-port).",
    )


def _refusing_blocked(
    blocked: BlockedKeys, key_fingerprint: str, then: StoreWrite | None
) -> StoreWrite:
    def write(cursor: Any) -> None:
        if blocked.is_key_blocked_in(cursor, key_fingerprint):
            raise _compromised_key()
        if then is not None:
            then(cursor)

    return write


def _refusing_succeeded(watch: IssuerWatch, issuer: str, then: StoreWrite | None) -> StoreWrite:
    """``then``, after refusing the reservation when ``issuer`` has a recorded successor."""
    successor = successor_id(issuer)

    def write(cursor: Any) -> None:
        if successor is not None and watch.recorded_in(cursor, successor):
            raise IssuerRetired(f"{issuer} was succeeded by {successor} (ca new-issuer).")
        if then is not None:
            then(cursor)

    return write


def _chain_pems(signer: Signer) -> tuple[bytes, bytes]:
    """(the issuing CA then the certificates above it except the root, the root) in PEM."""
    chain = signer.certificate.public_bytes(Encoding.PEM) + b"".join(
        c.public_bytes(Encoding.PEM) for c in signer.chain[:-1]
    )
    return chain, signer.chain[-1].public_bytes(Encoding.PEM)
