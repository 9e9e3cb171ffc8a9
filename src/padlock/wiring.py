"""The composition root: settings in, a ready CA out. Used by the CLI and the web app.

The one place services are built: ``web/`` and ``cli/`` ask here for an authority, its
enrollment, ACME, revocation and reviewer services, and never import ``store/``
themselves (an import contract in ``pyproject.toml``; migrations aside)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from padlock import hosts
from padlock.ca import revocation_settings
from padlock.ca import signer as signer_mod
from padlock.ca.issuance import Clock, IssuancePolicy, Issuer, utcnow
from padlock.ca.ports import Store
from padlock.config import Settings
from padlock.errors import BadPassphrase, ConfigError, OutputExists
from padlock.fileio import read_bytes, write_atomic
from padlock.pki import keypolicy

if TYPE_CHECKING:
    from padlock.ca.acmeserver.core import Probes
    from padlock.ca.acmeserver.model import AcmeSettings
    from padlock.ca.acmeserver.service import AcmeService
    from padlock.ca.audit import AuditEntry, AuditEvent
    from padlock.ca.enrollment.service import EnrollmentService
    from padlock.ca.mpic.config import PerspectiveConfig
    from padlock.ca.mpic.coordinator import Corroborator
    from padlock.ca.mpic.signing import RequestKey
    from padlock.ca.notify import Notifier
    from padlock.ca.ports.acme_server import Revoke
    from padlock.ca.ports.crl_shards import CrlShardStore
    from padlock.ca.ports.enrollment import EnrollmentStore
    from padlock.ca.ports.revocation import RevocationStore
    from padlock.ca.reviewers import Reviewers
    from padlock.ca.revocation import Revocation
    from padlock.ca.validation import VAConfig
    from padlock.pki.profiles import ProfileSet
    from padlock.store import SqlStore
    from padlock.store.revocation import RevocationRepository

CA_PASSPHRASE_ENV = "PADLOCK_CA_PASSPHRASE"  # noqa: S105 - a variable name
PASSPHRASE_FILE = "passphrase"  # noqa: S105 - a file name
MPIC_KEY_FILE = "mpic-request.key"  # the CA's key for signing requests to its perspectives


HSM_PIN_ENV = "PADLOCK_HSM_PIN"
HSM_PIN_FILE_ENV = "PADLOCK_HSM_PIN_FILE"


def token_pin(pin_file: Path | None = None) -> bytes | None:
    """A token's PIN: the file given, $PADLOCK_HSM_PIN, or the file $PADLOCK_HSM_PIN_FILE
    names (its first line). Never an argument: a command line is seen by every user."""
    if pin_file is None and os.environ.get(HSM_PIN_ENV):
        return os.environ[HSM_PIN_ENV].encode()
    named = pin_file
    if named is None and os.environ.get(HSM_PIN_FILE_ENV):
        named = Path(os.environ[HSM_PIN_FILE_ENV])
    if named is not None:
        lines = read_bytes(named, "PIN file", limit=4096).splitlines()
        return lines[0] if lines else b""
    return None


def ca_secret_env(settings: Settings) -> str:
    """The variable a server's workers find the CA's secret in: the token's PIN for a CA
    in a token, else the keys' pass phrase."""
    in_token = signer_mod.token_config(settings.ca_dir) is not None
    return HSM_PIN_ENV if in_token else CA_PASSPHRASE_ENV


def missing_secret(settings: Settings) -> BadPassphrase:
    """The error of a command that needs the CA's keys and was given no secret."""
    config = signer_mod.token_config(settings.ca_dir)
    if config is not None:
        return BadPassphrase(
            f"The CA's keys are in the token {config.token_label!r} and no PIN was given.",
            hint=f"Set {HSM_PIN_ENV}, or {HSM_PIN_FILE_ENV} to a file holding it.",
        )
    return BadPassphrase(
        "The CA keys are encrypted and no pass phrase was given.",
        hint=f"Set {CA_PASSPHRASE_ENV} or use --passphrase-file.",
    )


def ca_passphrase(settings: Settings, passphrase_file: Path | None = None) -> bytes | None:
    """The CA keys' pass phrase: --passphrase-file, $PADLOCK_CA_PASSPHRASE, or the data dir.
    For a CA in a token, the token's PIN (:func:`token_pin`; the file given is its file)."""
    if signer_mod.token_config(settings.ca_dir) is not None:
        return token_pin(passphrase_file)
    if passphrase_file is not None:
        lines = read_bytes(passphrase_file, "pass phrase file").splitlines()
        return lines[0] if lines else b""
    env = os.environ.get(CA_PASSPHRASE_ENV)
    if env:
        return env.encode()
    stored = settings.ca_dir / PASSPHRASE_FILE
    if stored.exists():
        return read_bytes(stored, "CA pass phrase file").splitlines()[0]
    return None


def required_passphrase(
    settings: Settings, passphrase_file: Path | None = None, what: str = "The CA keys are"
) -> bytes:
    """:func:`ca_passphrase`, or BadPassphrase saying where to give it."""
    found = ca_passphrase(settings, passphrase_file)
    if found is None:
        if signer_mod.token_config(settings.ca_dir) is not None:
            raise missing_secret(settings)
        raise BadPassphrase(
            f"{what} encrypted and no pass phrase was given.",
            hint=f"Set {CA_PASSPHRASE_ENV} or use --passphrase-file.",
        )
    return found


def generate_ca_passphrase(settings: Settings) -> tuple[bytes, Path]:
    """A random pass phrase kept in the data dir (mode 0600), for a CA made without prompts."""
    settings.ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    phrase = secrets.token_urlsafe(32).encode()
    path = settings.ca_dir / PASSPHRASE_FILE
    write_atomic(path, phrase + b"\n", mode=0o600)
    return phrase, path


def load_blocklist(settings: Settings) -> keypolicy.Blocklist:
    """The shipped known-bad keys, plus the operator's full blocklist file if named."""
    builtin = keypolicy.builtin_blocklist()
    if settings.blocklist_file is None:
        return builtin
    extra = keypolicy.Blocklist.from_bytes(
        read_bytes(settings.blocklist_file, "blocklist", limit=1 << 30),
        complete=True,
        source=str(settings.blocklist_file),
    )
    return builtin.merged(extra)


def load_profiles(settings: Settings) -> ProfileSet:
    """The CA's certificate profiles: padlock's shipped set merged with the files in
    ``<data dir>/profiles`` (made with a copy of the shipped ones on first start). A bad
    file is refused here, at start, with its path, line and reason."""
    from padlock.store.profile_files import read_profiles

    return read_profiles(settings.data_dir)


def open_store(settings: Settings) -> Store:
    from padlock.store import open_store as _open

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _open(settings.db_url)


def record_audit(settings: Settings, entry: AuditEntry) -> AuditEvent:
    """Append one event to the audit trail of ``settings``' database (a ceremony's record)."""
    store = open_store(settings)
    try:
        return store.append_event(entry, utcnow())
    finally:
        store.close()


@dataclass
class Authority:
    settings: Settings
    store: Store
    issuer: Issuer
    blocklist: keypolicy.Blocklist

    def close(self) -> None:
        self.store.close()


def open_authority(
    settings: Settings, passphrase: bytes | None, clock: Clock = utcnow
) -> Authority:
    """Load the issuing CAs and open the database. The URLs in certificates are the
    PKI base URL given at ``ca init`` (kept in ca.json), so they stay stable."""
    meta = signer_mod.read_meta(settings.ca_dir)
    if passphrase is None:
        raise missing_secret(settings)
    cas = signer_mod.load_issuing_cas(settings.ca_dir, passphrase)
    store = open_store(settings)
    try:  # a host signs only with the CA the database belongs to (docs/ca-operations.md)
        hosts.check_ca(settings, store)
    except BaseException:
        store.close()
        raise
    blocklist = load_blocklist(settings)
    policy = IssuancePolicy(
        base_url=signer_mod.pki_base_url_of(meta) or settings.effective_pki_base_url,
        allow_internal_in_test=settings.allow_internal_names_in_test,
        test_clock_offset=settings.test_clock_offset,
        revocation=revocation_settings.choices(meta),
    )
    blocked = revocation_store(store)
    watch = _IssuerWatch(settings, passphrase, store)
    try:
        profiles = load_profiles(settings)
    except BaseException:
        store.close()
        raise
    issuer = Issuer(
        store,
        cas,
        policy,
        blocklist,
        clock,
        blocked_keys=blocked,
        watch=watch,
        profiles=profiles,
    )
    return Authority(settings, store, issuer, blocklist)


class _IssuerWatch:
    """What the Issuer asks after ``ca new-issuer``: is its CA's successor recorded (in the
    reservation's transaction), and this host's issuing CAs again, checked against the
    database's (a host whose data dir lacks the successor refuses to issue, and says how
    to bring it over)."""

    def __init__(self, settings: Settings, passphrase: bytes, store: Store) -> None:
        from padlock.store.identity import IdentityRepository

        self._settings = settings
        self._passphrase = passphrase
        self._store = store
        self._repo = IdentityRepository(_sql_store(store, "The CA identity"))

    def recorded_in(self, cursor: object, issuer: str) -> bool:
        return self._repo.recorded_in(cursor, issuer)

    def unknown(self, known: set[str]) -> bool:
        recorded = {c.issuer for c in self._repo.get()}
        return any(signer_mod.issuing_generation(i) for i in recorded - known)

    def reload(self) -> signer_mod.IssuingCas:
        hosts.check_ca(self._settings, self._store)
        return signer_mod.load_issuing_cas(self._settings.ca_dir, self._passphrase)


def open_revocation(authority: Authority, passphrase: bytes) -> Revocation:
    """Revocation for a process that holds the CA keys: the Revoker, the CRLs of the issuing
    CAs and of the test root (its key is online), and the OCSP responders."""
    from padlock.ca import revocation as rev
    from padlock.ca.crl_shards import ShardedCrls
    from padlock.pki.profiles import Hierarchy

    ca_dir = authority.settings.ca_dir
    repo = revocation_store(authority.store)
    issuer = authority.issuer
    meta = signer_mod.read_meta(ca_dir)
    chosen = revocation_settings.choices(meta)

    def answering(cas: Iterable[signer_mod.Signer]) -> list[signer_mod.Signer]:
        """Only the issuing CAs whose choice is OCSP get a responder; the others answer
        unauthorized."""
        return [s for s in cas if revocation_settings.choice_for(chosen, s.issuer).ocsp]

    # Every issuing CA signs CRLs and OCSP answers for what it issued, the succeeded ones
    # too (ca new-issuer), as long as the data dir holds them.
    issuing = issuer.issuing_cas.every
    responders = signer_mod.ensure_every_ocsp_signer(
        ca_dir, passphrase, utcnow(), answering(issuing)
    )
    test_root = signer_mod.load_root_signer(ca_dir, Hierarchy.TEST, passphrase)
    base = signer_mod.pki_base_url_of(meta) or authority.settings.effective_pki_base_url
    shards = ShardedCrls(_revocation_repo(repo).shards, issuing, chosen, base)
    crls = rev.CrlService(repo, [*issuing, test_root], lagging=lambda i: shards.count(i) > 0)
    ocsp = rev.OcspResponder(repo, responders)

    def renew(now: dt.datetime) -> list[signer_mod.OcspSigner]:
        every = issuer.issuing_cas.every
        crls.replace_signers([*every, test_root])
        shards.replace_signers(every)
        return signer_mod.ensure_every_ocsp_signer(ca_dir, passphrase, now, answering(every))

    return rev.Revocation(
        rev.Revoker(repo, crls, ocsp, shards=shards),
        crls,
        ocsp,
        renew,
        issuers=lambda: issuer.refresh().every,
        shards=shards,
    )


def _revocation_repo(repo: RevocationStore) -> RevocationRepository:
    from padlock.store.revocation import RevocationRepository

    if not isinstance(repo, RevocationRepository):  # pragma: no cover - revocation_store's
        raise ConfigError("Revocation needs padlock's SQL store.")
    return repo


def _sql_store(store: Store, what: str) -> SqlStore:
    from padlock.store import SqlStore

    if not isinstance(store, SqlStore):  # pragma: no cover - open_store always gives one
        raise ConfigError(f"{what} needs padlock's SQL store.")
    return store


def runs_on_sqlite(store: Store) -> bool:
    """Whether ``store`` is a SQLite file (the web runs its writes on the event loop then)."""
    return _sql_store(store, "This").is_sqlite


def revocation_store(store: Store) -> RevocationStore:
    """The revocation repository (CRLs, OCSP answers, blocked keys) on ``store``'s database."""
    from padlock.store.revocation import RevocationRepository

    return RevocationRepository(_sql_store(store, "Revocation"))


def crl_shard_store(store: Store) -> CrlShardStore:
    """The stored CRL shards, their numbers and entries, on ``store``'s database."""
    from padlock.store.crl_shards import CrlShardRepository

    return CrlShardRepository(_sql_store(store, "CRL shards"))


def reviewers(store: Store) -> Reviewers:
    """The review console's accounts and sessions on ``store``'s database."""
    from padlock.ca.reviewers import Reviewers
    from padlock.store.review import SqlReviewerStore

    return Reviewers(SqlReviewerStore(store))


def enrollment_store(store: Store) -> EnrollmentStore:
    """The enrollment repository alone (the CLI's review queue reads it without keys)."""
    from padlock.store.enrollment import SqlEnrollmentStore

    return SqlEnrollmentStore(_sql_store(store, "Enrollment"))


def open_enrollment(
    authority: Authority,
    va_config: VAConfig | None = None,
    *,
    notifier: Notifier | None = None,
    env: Mapping[str, str] | None = None,
) -> EnrollmentService:
    """The enrollment service of a running authority; mail per ``PADLOCK_SMTP_*``."""
    from urllib.parse import urlsplit

    from padlock.ca.enrollment.service import EnrollmentService
    from padlock.ca.notify import SmtpConfig, SmtpMailer
    from padlock.ca.validation import VAConfig

    settings = authority.settings
    store = _sql_store(authority.store, "Enrollment")
    host = urlsplit(settings.base_url).hostname or "localhost"
    if va_config is None:
        va_config = VAConfig.for_settings(settings)
    if notifier is None:
        smtp = SmtpConfig.from_env(os.environ if env is None else env, f"padlock@{host}")
        notifier = SmtpMailer(smtp) if smtp else None
    return EnrollmentService(
        enrollment_store(store),
        store,
        authority.issuer,
        va_config,
        documents_dir=settings.data_dir / "documents",
        base_url=settings.base_url,
        notifier=notifier,
        corroborator=corroborator(settings),
    )


def acme_service(
    authority: Authority,
    settings: AcmeSettings,
    base_url: str,
    va: VAConfig,
    revoke: Revoke,
    probes: Probes | None = None,
) -> AcmeService:
    """The ACME server's use cases on the authority's issuer and database; with the remote
    perspectives of ``PADLOCK_MPIC_PERSPECTIVES`` when it names any (BR 3.2.2.9)."""
    from padlock.ca.acmeserver.service import AcmeService
    from padlock.store.acme import SqlAcmeStore

    store = _sql_store(authority.store, "The ACME server")
    return AcmeService(
        SqlAcmeStore(store),
        authority.issuer,
        store,
        settings,
        base_url,
        va,
        revoke,
        probes=probes,
        corroborator=corroborator(authority.settings),
    )


def acme_validations(store: Store, serial: int) -> list[dict[str, Any]]:
    """What proved the names of an ACME certificate (``padlock ca show``)."""
    from padlock.ca.acmeserver.evidence import validations_of
    from padlock.store.acme import SqlAcmeStore

    return validations_of(SqlAcmeStore(_sql_store(store, "ACME")), serial)


def mpic_request_key(settings: Settings) -> RequestKey:
    """The CA's Ed25519 key for signing requests to its perspectives (mode 0600 in the CA's
    directory), made on first use. It signs no certificate."""
    from padlock.ca.mpic.signing import RequestKey

    path = settings.ca_dir / MPIC_KEY_FILE
    if not path.exists():
        settings.ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _key, pem = RequestKey.generate()
        with contextlib.suppress(OutputExists):  # another process made it first: use that
            write_atomic(path, pem, mode=0o600)
    return RequestKey.from_pem(read_bytes(path, "MPIC request key", limit=64 * 1024), path.name)


def perspectives(settings: Settings) -> tuple[PerspectiveConfig, ...]:
    """The remote perspectives ``PADLOCK_MPIC_PERSPECTIVES`` names; none without it."""
    from padlock.ca.mpic import config as mpic_config

    if settings.mpic_perspectives is None:
        return ()
    path = settings.mpic_perspectives
    text = read_bytes(path, "perspectives file", limit=1024 * 1024)
    return mpic_config.parse(text, str(path))


def corroborator(settings: Settings, clock: Clock = utcnow) -> Corroborator | None:
    """Multi-perspective corroboration over the configured perspectives (None: none are, and
    the VA validates alone, as before BR 3.2.2.9)."""
    from padlock.ca.mpic.coordinator import Corroborator
    from padlock.net.perspectives import HttpTransport

    found = perspectives(settings)
    if not found:
        return None
    verify: str | bool = settings.mpic_ca_bundle or True
    return Corroborator(
        found, mpic_request_key(settings), HttpTransport(verify), clock, settings.mpic_deadline
    )
