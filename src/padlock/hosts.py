"""Several hosts, one database: every host that signs holds the CA the database belongs to.

Called from the composition root (``wiring``), ``padlock serve``'s first-start init and
the commands that sign. The database records the CA's identity (``ca_identity``, from
``ca init``); a database made before that records the first CA that opens it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from padlock.ca import identity as ident
from padlock.ca import signer as signer_mod
from padlock.ca.issuance import utcnow
from padlock.ca.ports.identity import CaIdentity
from padlock.config import Settings
from padlock.errors import ConfigError, Conflict, OutputExists
from padlock.pki import keys
from padlock.pki.profiles import Hierarchy

if TYPE_CHECKING:
    from padlock.store import SqlStore


def _open(settings: Settings) -> SqlStore:
    from padlock.store import open_store

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open_store(settings.db_url)


def check_ca(settings: Settings, store: object, actor: str = "system") -> CaIdentity:
    """Refuse a data dir whose CA is not the database's; record it if the database has none.

    ``store`` is the ``SqlStore`` the caller opened (typed loosely: callers hold a
    ``ca.ports.Store``)."""
    from padlock.store.identity import IdentityRepository

    local = ident.local_identity(settings.ca_dir)
    repo = IdentityRepository(store)  # type: ignore[arg-type]
    recorded = repo.get() or repo.record(local, utcnow(), actor)
    ident.refuse_other_ca(recorded, local, settings.data_dir)
    return recorded


def refuse_new_ca(settings: Settings) -> None:
    """Before a CA is made in ``settings.data_dir``: refuse when the database has one."""
    from padlock.store.identity import IdentityRepository

    if (settings.ca_dir / "ca.json").exists():
        return  # a CA is here already: making one refuses with its own message
    store = _open(settings)
    try:
        recorded = IdentityRepository(store).get()
    finally:
        store.close()
    if recorded:
        raise ident.missing_ca(settings.data_dir, recorded)


def record_ca(settings: Settings, actor: str) -> CaIdentity:
    """Open the database, record (or check) the data dir's CA, close it again."""
    store = _open(settings)
    try:
        return check_ca(settings, store, actor)
    finally:
        store.close()


def check_signatures(store: object) -> int:
    """For ``audit verify``: every stored certificate, CRL and OCSP response must be signed
    by a key of the recorded identity. Raises Conflict naming the first foreign ones;
    returns how many CA certificates the identity holds (0: none recorded, nothing checked)."""
    from padlock.store.identity import IdentityRepository

    repo = IdentityRepository(store)  # type: ignore[arg-type]
    recorded = repo.get()
    if not recorded:
        return 0
    found = ident.foreign_signatures(
        recorded, repo.issued_certificates(), repo.crls(), repo.ocsp_responses()
    )
    if found:
        raise Conflict(
            "Signatures by a key foreign to this database's CA ("
            + ident.short(recorded)
            + "): "
            + "; ".join(found)
            + ".",
            hint="Another CA wrote into this database (a host started with another data dir?)."
            " Stop the hosts that do not hold this CA; see docs/ca-operations.md,"
            ' "A second host".',
        )
    return len(recorded)


# --- a new issuing CA under the same root ------------------------------------------------


@dataclass(frozen=True)
class NewIssuer:
    """What ``ca new-issuer`` made: the new issuing CA and the one it succeeds."""

    issuer: str
    succeeds: str
    certificate_path: Path
    subject: str
    not_after: dt.datetime


def new_issuer(
    settings: Settings,
    hierarchy: Hierarchy,
    passphrase: bytes,
    *,
    root_key: Path | None = None,
    key_type: str | None = None,
    actor: str = "cli",
) -> NewIssuer:
    """Make the next issuing CA of ``hierarchy`` under its root and record it in the
    database (audited), after checking the data dir holds the database's CA. The root's key
    is loaded by ``ca/signer.py`` only (the trusted one from ``root_key``, brought back
    from offline storage). What this wrote is taken back if the database refuses it."""
    from padlock.store.identity import IdentityRepository

    store = _open(settings)
    try:
        recorded = check_ca(settings, store, actor)
        root = signer_mod.load_root_signer(settings.ca_dir, hierarchy, passphrase, root_key)
        current = signer_mod.load_issuing_cas(settings.ca_dir, passphrase).current[hierarchy]
        now = utcnow()
        kind = keys.parse_key_type(key_type) if key_type else None
        made = signer_mod.new_issuing_ca(settings.ca_dir, hierarchy, root, passphrase, now, kind)
        try:
            signer_mod.ensure_ocsp_signer(settings.ca_dir, made, passphrase, now)
            added = ident.added_issuer(recorded, ident.local_identity(settings.ca_dir))
            IdentityRepository(store).add_issuer(
                added, recorded, now, actor, succeeds=current.issuer
            )
        except BaseException:
            signer_mod.remove_issuing_ca(settings.ca_dir, made.issuer)
            raise
    finally:
        store.close()
    generation = signer_mod.issuing_generation(made.issuer)
    assert generation is not None
    return NewIssuer(
        made.issuer,
        current.issuer,
        signer_mod.issuing_files(settings.ca_dir, hierarchy, generation[1])[0],
        made.certificate.subject.rfc4514_string(),
        made.certificate.not_valid_after_utc,
    )


def issuer_spans(settings: Settings) -> dict[str, tuple[int, dt.datetime | None]]:
    """{issuer: (unexpired certificates, the last notAfter)} from the database."""
    from padlock.store.identity import IdentityRepository

    store = _open(settings)
    try:
        return IdentityRepository(store).issuer_spans(utcnow())
    finally:
        store.close()


# --- preparing a second host ---------------------------------------------------------------

# What a host needs of the CA: its certificates, the issuing (and test root) keys, encrypted,
# the OCSP responders, ca.json. Never the offline trusted root key (DATA/offline), never the
# first host's TLS certificate (DATA/tls) or run files.
_SKIPPED_SUFFIXES = (".lock", ".tmp")


def clone_to(
    settings: Settings, dest: Path, *, with_passphrase: bool, update: bool = False
) -> list[Path]:
    """Copy the CA of ``settings.data_dir`` (checked against the database) into the data dir
    ``dest``; the files written. ``update``: ``dest`` holds this CA already, and gets only
    what it lacks (an issuing CA ``ca new-issuer`` made here), nothing overwritten."""
    record_ca(settings, "clone-to")
    target = dest / "ca"
    if update:
        _check_update(settings, dest)
    elif target.exists():
        raise OutputExists(
            f"There is a CA in {dest} already.",
            hint="Give an empty or new directory for the new host's data (or --update to"
            " bring it the issuing CAs it lacks).",
        )
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: list[Path] = []
    source = settings.ca_dir
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        if rel.name == "passphrase" and len(rel.parts) == 1 and not with_passphrase:
            continue
        out = target / rel
        if update and out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(path, out)
        written.append(out)
    return written


def _check_update(settings: Settings, dest: Path) -> None:
    """``dest`` holds this CA, short of issuing CAs at most (what ``--update`` brings)."""
    theirs = ident.local_identity(dest / "ca")
    ours = ident.local_identity(settings.ca_dir)
    other = [d for d in ident.differences(ours, theirs) if "missing from the data dir" not in d]
    if other:
        raise ConfigError(
            f"The data dir {dest} holds another CA: " + "; ".join(other) + ".",
            hint="--update only brings a copy of this CA the issuing CAs it lacks.",
        )
