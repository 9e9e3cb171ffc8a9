"""``padlock obtain``: the seed's whole guide in one command.

Key (encrypted unless told otherwise, mode 0600) -> CSR (CN and SANs) -> the CA (padlock's
REST API, or any ACME directory) -> the HTTP check answered (web root or a listener of our
own) -> the full chain fetched and verified -> written to a directory, or installed into
Apache or nginx by their installers (which prove the live server shows it for every name).

Everything the next step needs is saved before the step is taken (the lineage,
:mod:`padlock.site.lineage`), so that an ov request waiting for a reviewer, a failed check
or a crash continues with ``padlock obtain --resume``, and ``padlock renew``
(:mod:`padlock.site.renewal`) repeats it unattended with the saved settings.

This module orchestrates one path, start -> submit -> prove -> wait -> chain -> deliver
(:class:`Obtaining`); the CA is a :class:`~padlock.site.ca_backend.CaBackend` (REST:
:mod:`padlock.site.backend_rest`, ACME: :mod:`padlock.site.backend_acme`), the HTTP answers
are in :mod:`padlock.site.responders`, the chain check in :mod:`padlock.site.verify`, the
installers in :mod:`padlock.site.apache` and :mod:`padlock.site.nginx`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from padlock.errors import (
    BadPassphrase,
    ConfigError,
    Conflict,
    FileProblem,
    InvalidName,
    Malformed,
    OutputExists,
    PadlockError,
)
from padlock.fileio import read_bytes, write_atomic
from padlock.pki import csr as pki_csr
from padlock.pki import keys as pki_keys
from padlock.pki import names as pki_names
from padlock.site.backend_acme import AcmeBackend
from padlock.site.backend_rest import RestBackend
from padlock.site.ca_backend import CaBackend, Issued, Record, Ticket
from padlock.site.ca_http import check_ca_url
from padlock.site.check import CheckResult
from padlock.site.lineage import (
    KINDS,
    TARGETS,
    Current,
    Lineage,
    Pending,
    Settings,
    SiteState,
    Target,
    dir_name,
    iso,
    passphrase_for,
    utcnow,
)
from padlock.site.responders import NoHttp, Responder, responder
from padlock.site.verify import Verified, load_roots, to_pem, verify_issued

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A ``progress`` that says nothing."""
    return None


# --------------------------------------------------------------------------- checks first


def normalize_names(names: Sequence[str]) -> tuple[str, ...]:
    """The certificate's names, checked (an ``http://`` URL gets an error saying what to
    type) and normalised; the first is the site's name."""
    if not names:
        raise InvalidName(
            "No host name was given.", hint="padlock obtain www.example.com --ca URL ..."
        )
    out: list[str] = []
    for raw in names:
        name = pki_names.normalize_dns_name(raw)
        if name not in out:
            out.append(name)
    if pki_names.is_wildcard(out[0]):
        raise InvalidName(
            f"The site's name {out[0]!r} is a wildcard; a web server is named by a host name.",
            hint="Give the host name first and the wildcard with --alias.",
        )
    return tuple(out)


def _organization(settings: Settings) -> dict[str, str | None] | None:
    org = settings.organization
    if settings.kind != "ov":
        if org:
            raise Malformed(
                "--org, --country, --state and --locality are for ov certificates only.",
                hint="Add --ov, or leave them out.",
            )
        return None
    if not org or not org.get("organization") or not org.get("country"):
        raise Malformed(
            "An ov certificate names your organization: give --org and --country"
            " (and --locality, --state as registered).",
            hint='e.g. --org "Widgets Limited" --country GB --locality Leeds',
        )
    return {
        "organization": org["organization"],
        "locality": org.get("locality"),
        "state": org.get("state"),
        "country": pki_names.normalize_country(str(org["country"])),
    }


def preflight(
    settings: Settings,
    passphrase: bytes | None,
    *,
    force: bool = False,
    new_key: bool = True,
    owned: frozenset[str] = frozenset(),
    check_passphrase: bool = True,
) -> Settings:
    """Every check that needs neither the CA nor a new key: nothing is sent or written
    before these pass. Returns the settings normalised (names, paths, organization).
    ``new_key``: a key is to be made (else only an install needs the pass phrase)."""
    names = normalize_names(settings.names)
    ca: str | None
    if settings.protocol == "rest":
        if not settings.ca:
            raise Malformed("Say which CA: --ca URL (or --acme DIRECTORY_URL).")
        ca = check_ca_url(settings.ca)
        if settings.kind not in KINDS:
            raise Malformed(
                "Say which certificate: --test (instant, 21 days, test root), --dv (after the"
                " domain check) or --ov (domain check and a reviewer's organization check).",
            )
        if not settings.contact:
            raise Malformed(
                "The CA needs an email address for the request: give --contact EMAIL.",
            )
        acme = None
    else:
        acme = check_ca_url(settings.acme or "", "The ACME directory URL")
        ca = check_ca_url(settings.ca) if settings.ca else None
    organization = _organization(settings)
    pki_keys.parse_key_type(settings.key_type)
    needs_passphrase = check_passphrase and (new_key or settings.target.kind != "out")
    if settings.encrypt and passphrase is None and needs_passphrase:
        raise BadPassphrase(
            "The key is encrypted and no pass phrase was given.",
            hint="Give --passphrase-file FILE (renewals read it again), set PADLOCK_PASSPHRASE,"
            " or add --no-encrypt.",
        )
    if settings.encrypt and passphrase is not None and new_key:
        pki_keys.check_passphrase_strength(passphrase)
    roots = tuple(str(Path(r).resolve()) for r in settings.ca_roots)
    for root in roots:
        load_roots(Path(root))
    documents = tuple(str(Path(d).resolve()) for d in settings.documents)
    if documents and settings.kind != "ov":
        raise Malformed("Documents (--document) go with ov requests only.")
    for doc in documents:
        read_bytes(Path(doc), "document", limit=10 * 1024 * 1024)
    _check_challenge(settings)
    webroot = str(Path(settings.webroot).resolve()) if settings.webroot else None
    if settings.needs_http_check():
        responder(
            Path(webroot) if webroot else None,
            settings.standalone_port,
            settings.standalone_address,
        )
    target = _check_target(settings.target, names[0], force=force, owned=owned)
    passphrase_file = (
        str(Path(settings.passphrase_file).resolve()) if settings.passphrase_file else None
    )
    return replace(
        settings,
        names=names,
        ca=ca,
        acme=acme,
        organization=organization,
        ca_roots=roots,
        documents=documents,
        webroot=webroot,
        target=target,
        passphrase_file=passphrase_file,
    )


CHALLENGES = ("http-01", "dns-01", "dns-account-01", "dns-persist-01")


def _check_challenge(settings: Settings) -> None:
    """A DNS check goes with an ACME directory, and dns-01 and dns-account-01 (a new
    record each order) with a --dns-hook that publishes it."""
    kind = settings.challenge
    if kind not in CHALLENGES:
        raise ConfigError(f"--challenge {kind}: choose one of {', '.join(CHALLENGES)}.")
    if kind != "http-01" and settings.protocol != "acme":
        raise ConfigError(
            f"--challenge {kind} is for ACME directories (--acme); padlock's REST API checks"
            " over HTTP or its own DNS record.",
        )
    if kind in ("dns-01", "dns-account-01") and not settings.dns_hook:
        raise ConfigError(
            f"{kind} needs a new TXT record for each order, and padlock was not told how to"
            " publish it.",
            hint="Give --dns-hook CMD: padlock runs `CMD add NAME VALUE`, then"
            " `CMD remove NAME VALUE` (docs/obtain.md).",
        )


def owned_files(lineage: Lineage | None) -> frozenset[str]:
    """The files padlock wrote for this certificate before (renewals replace them)."""
    if lineage is None or lineage.current is None:
        return frozenset()
    return frozenset(lineage.current.files.values())


def out_files(target: Target, name: str) -> dict[str, Path]:
    """The files ``--out DIR`` writes, named after the site like the seed's
    ``www.mydomain.com.key``."""
    assert target.out_dir is not None
    base = Path(target.out_dir)
    stem = dir_name(name)
    return {
        "key": base / f"{stem}.key",
        "cert": base / f"{stem}.crt",
        "chain": base / f"{stem}.chain.pem",
        "fullchain": base / f"{stem}.fullchain.pem",
    }


def _check_target(
    target: Target, name: str, *, force: bool, owned: frozenset[str] = frozenset()
) -> Target:
    if target.kind not in TARGETS:
        raise Malformed("Say where the certificate goes: --apache, --nginx or --out DIR.")
    if target.kind == "out":
        if not target.out_dir:
            raise Malformed("--out needs a directory.")
        out = Path(target.out_dir).resolve()
        if out.exists() and not out.is_dir():
            raise FileProblem(f"--out {str(out)!r} is a file, not a directory.")
        parent = out if out.exists() else out.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise FileProblem(f"Cannot write in {str(parent)!r}.", hint="Choose another --out.")
        target = replace(target, out_dir=str(out))
        if not force:
            for path in out_files(target, name).values():
                if str(path) in owned:
                    continue  # written by padlock for this certificate before
                if path.exists() or path.is_symlink():
                    raise OutputExists(
                        f"{str(path)!r} exists already; padlock obtain does not overwrite it.",
                        hint="Choose another --out, move the files away, or add --force"
                        " (padlock renew replaces the files it wrote itself).",
                    )
        return target
    root = Path(target.config_root or f"/etc/{'apache2' if target.kind == 'apache' else 'nginx'}")
    root = root.resolve()
    for port in (target.port, target.http_port):
        if not 0 < port < 65536:
            raise Malformed(f"{port} is not a port number.")
    if target.kind == "apache":
        from padlock.site import apache

        apache.detect_layout(root, target.layout)
    else:
        from padlock.site import nginx

        nginx.detect_layout(root, target.layout)
    return replace(target, config_root=str(root))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """What ``obtain`` (or one renewal) did."""

    name: str
    status: str  # installed | written | waiting
    message: str
    serial: str | None = None
    not_after: dt.datetime | None = None
    request_id: str | None = None
    status_url: str | None = None
    order_url: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    checks: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "serial": self.serial,
            "not_after": iso(self.not_after) if self.not_after else None,
            "request_id": self.request_id,
            "status_url": self.status_url,
            "order_url": self.order_url,
            "files": self.files,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }


def _write_set(files: Mapping[Path, tuple[bytes, int]]) -> None:
    """Write several files all or nothing: every temp file first, then the renames."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, (data, mode) in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((Path(tmp), path))
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp_path, path in staged:
            os.replace(tmp_path, path)
    except OSError as exc:
        raise FileProblem(f"Cannot write the certificate files: {exc.strerror or exc}.") from exc
    finally:
        for tmp_path, _path in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()


# --------------------------------------------------------------------------- the CA


def backend_for(
    settings: Settings,
    state: SiteState,
    *,
    record: Record,
    say: Progress = quiet,
    agree_tos: bool = False,
) -> CaBackend[Any]:
    """The CA the settings name: an ACME directory, else padlock's REST API."""
    if settings.protocol == "acme":
        assert settings.acme is not None
        account_dir = state.account_dir(settings.acme)
        return AcmeBackend(settings, account_dir, record=record, say=say, agree_tos=agree_tos)
    return RestBackend(settings, record=record, say=say)


# --------------------------------------------------------------------------- one run


class Obtaining:
    """One pass over a lineage's request: start it (a key and a CSR), then submit -> prove
    -> wait -> chain -> deliver, saving each step's result before the next is taken."""

    def __init__(
        self,
        state: SiteState,
        lineage: Lineage,
        *,
        passphrase: bytes | None,
        agree_tos: bool,
        progress: Progress,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.state = state
        self.lineage = lineage
        self.settings = lineage.settings
        self.passphrase = passphrase
        self.say = progress
        self.now = now
        self.ca = backend_for(
            self.settings, state, record=self._save, say=progress, agree_tos=agree_tos
        )

    # -- bookkeeping ---------------------------------------------------------------------

    def _save(self, **changes: Any) -> None:
        assert self.lineage.pending is not None
        pending = replace(self.lineage.pending, **changes)
        self.lineage = self.state.save(replace(self.lineage, pending=pending))

    @property
    def pending(self) -> Pending:
        assert self.lineage.pending is not None
        return self.lineage.pending

    def _drop_pending(self) -> None:
        """The CA holds nothing for this request: forget it (and the lineage, if new)."""
        shutil.rmtree(self.state.lineage_dir(self.lineage.name) / "pending", ignore_errors=True)
        if self.lineage.current is None:
            self.state.forget(self.lineage.name)
        else:
            self.lineage = self.state.save(replace(self.lineage, pending=None))

    # -- start ---------------------------------------------------------------------------

    def start(self, *, reuse_key: bool = False, previous: Current | None = None) -> None:
        """A new key (or the current one) and a CSR, saved as the pending request."""
        s = self.settings
        directory = self.state.lineage_dir(s.name) / "pending"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, mode=0o700)
        if reuse_key and previous is not None:
            key_pem = read_bytes(Path(previous.files["key"]), "key file")
            encrypted = pki_keys.is_encrypted(key_pem)
            key = pki_keys.load_private_key(
                key_pem, self.passphrase if encrypted else None, "The current key"
            )
            self.say("Reusing the current key (--reuse-key)")
        else:
            kind = pki_keys.parse_key_type(s.key_type)
            self.say(f"Making a new {kind.value} key" + (", encrypted" if s.encrypt else ""))
            key = pki_keys.generate_key(kind)
            key_pem = pki_keys.private_key_pem(key, self.passphrase if s.encrypt else None)
        org = s.organization or {}
        fields = pki_csr.SubjectFields(
            common_name=s.name,
            organization=org.get("organization"),
            locality=org.get("locality"),
            state=org.get("state"),
            country=org.get("country"),
        )
        csr_pem = pki_csr.build_csr(key, fields, list(s.names)).public_bytes(Encoding.PEM)
        key_file, csr_file = directory / "privkey.pem", directory / "csr.pem"
        write_atomic(key_file, key_pem, mode=0o600, overwrite=True)
        write_atomic(csr_file, csr_pem, mode=0o644, overwrite=True)
        self.say(f"Made the CSR for {', '.join(s.names)}")
        pending = Pending(
            started_at=iso(self.now()), key_file=str(key_file), csr_file=str(csr_file)
        )
        if previous is not None:
            pending = self.ca.renews(pending, previous)
        self.lineage = self.state.save(replace(self.lineage, pending=pending, last_error=None))

    # -- the one path --------------------------------------------------------------------

    def run(self) -> Outcome:
        deadline = time.monotonic() + self.settings.wait
        with contextlib.closing(self.ca):
            ticket = self._submit()
            if ticket.status == "prove":
                ticket = self._unless_refused(self.ca.prove(ticket, self._responder(), deadline))
            ticket = self._unless_refused(self.ca.wait(ticket, deadline))
            if ticket.status == "working":
                p = self.pending
                return Outcome(
                    name=self.settings.name,
                    status="waiting",
                    message=ticket.message,
                    request_id=p.request_id,
                    status_url=p.status_url,
                    order_url=p.order_url,
                )
            issued = self.ca.chain(ticket)
        return self._deliver(issued)

    def _submit(self) -> Ticket[Any]:
        reference = self.pending.reference
        try:
            ticket = self.ca.submit(self.pending)
        except PadlockError:
            if reference is None:
                self._drop_pending()  # the CA holds nothing: start afresh next time
            raise
        return self._unless_refused(ticket)

    def _unless_refused(self, ticket: Ticket[Any]) -> Ticket[Any]:
        """A refused request is forgotten (as the backend says) before its error is raised."""
        if ticket.refused is None:
            return ticket
        kept = self.ca.forget(self.pending)
        if kept is None:
            self._drop_pending()
        else:
            self.lineage = self.state.save(replace(self.lineage, pending=kept))
        raise ticket.refused

    def _responder(self) -> Responder:
        s = self.settings
        if not s.needs_http_check():
            return NoHttp()
        return responder(
            Path(s.webroot) if s.webroot else None, s.standalone_port, s.standalone_address
        )

    # -- delivery ------------------------------------------------------------------------

    def _deliver(self, issued: Issued) -> Outcome:
        s = self.settings
        p = self.pending
        now = self.now()
        verified = verify_issued(
            issued.chain,
            read_bytes(Path(p.csr_file), "CSR"),
            s.names,
            [Path(r) for r in s.ca_roots],
            now,
            hint_url=s.ca if s.protocol == "rest" else None,
            resume_ref=issued.request_id or s.name,
        )
        self.say(
            f"Certificate {verified.serial} is for the new key and every name; its chain leads"
            f" to {verified.anchor.subject.rfc4514_string()}"
        )
        key_pem = read_bytes(Path(p.key_file), "key file")
        cert_pem = to_pem([verified.leaf])
        chain_only = to_pem(verified.intermediates)
        fullchain = cert_pem + chain_only
        checks: tuple[CheckResult, ...] = ()
        notes: list[str] = []
        if s.target.kind == "out":
            files = out_files(s.target, s.name)
            _write_set(
                {
                    files["key"]: (key_pem, 0o600),
                    files["cert"]: (cert_pem, 0o644),
                    files["chain"]: (chain_only, 0o644),
                    files["fullchain"]: (fullchain, 0o644),
                }
            )
            status = "written"
            message = f"Wrote the key and certificate {verified.serial} to {s.target.out_dir}."
        else:
            files, checks, notes = self._install(key_pem, cert_pem, chain_only, fullchain)
            status = "installed"
            message = (
                f"Installed certificate {verified.serial} into {s.target.kind}; the live server"
                f" presents it for {', '.join(c.server_name for c in checks) or s.name}."
            )
        current = self._make_current(verified, files, issued, now)
        if s.target.kind == "out":  # the key lives in --out DIR now; the copy goes
            shutil.rmtree(Path(p.key_file).parent, ignore_errors=True)
        return Outcome(
            name=s.name,
            status=status,
            message=message,
            serial=verified.serial,
            not_after=verified.leaf.not_valid_after_utc,
            request_id=issued.request_id,
            status_url=p.status_url,
            order_url=issued.order_url,
            files=current.files,
            checks=checks,
            notes=tuple(notes),
        )

    def _make_current(
        self, verified: Verified, files: Mapping[str, Path], issued: Issued, now: dt.datetime
    ) -> Current:
        """The delivered certificate becomes the lineage's current one (and its history's
        last line); nothing is pending any more."""
        current = Current(
            serial=verified.serial,
            not_before=iso(verified.leaf.not_valid_before_utc),
            not_after=iso(verified.leaf.not_valid_after_utc),
            obtained_at=iso(now),
            files={k: str(v) for k, v in files.items()},
            request_id=issued.request_id,
            order_url=issued.order_url,
            certificate_url=issued.certificate_url,
        )
        history = (
            *self.lineage.history,
            {
                "serial": verified.serial,
                "at": iso(now),
                "reference": issued.request_id or issued.order_url or "",
            },
        )[-50:]
        settings = self.lineage.settings
        placed = self.lineage.pending.profile if self.lineage.pending else None
        if settings.profile is None and placed:
            # Renewals keep the profile this certificate was obtained with, even when the
            # CA's default changes (certbot#10271): it is a setting from now on.
            settings = replace(settings, profile=placed)
        self.lineage = self.state.save(
            replace(
                self.lineage,
                settings=settings,
                current=current,
                pending=None,
                history=history,
                last_error=None,
            )
        )
        self.settings = settings
        return current

    def _install(
        self, key_pem: bytes, cert_pem: bytes, chain_pem: bytes, fullchain: bytes
    ) -> tuple[dict[str, Path], tuple[CheckResult, ...], list[str]]:
        """Apache or nginx, by their installers: pre-flight, write, configtest, reload, probe
        every name; any failure restores their files (and our ``current`` stays as it was)."""
        s = self.settings
        t = s.target
        base = self.state.lineage_dir(s.name)
        staged = base / "pending"
        files = {
            "key": staged / "privkey.pem",
            "cert": staged / "cert.pem",
            "chain": staged / "chain.pem",
            "fullchain": staged / "fullchain.pem",
        }
        _write_set(
            {
                files["cert"]: (cert_pem, 0o644),
                files["chain"]: (chain_pem, 0o644),
                files["fullchain"]: (fullchain, 0o644),
            }
        )
        if files["key"] != Path(self.pending.key_file):  # pragma: no cover - same layout
            write_atomic(files["key"], key_pem, mode=0o600, overwrite=True)
        encrypted = pki_keys.is_encrypted(key_pem)
        common: dict[str, Any] = {
            "name": s.name,
            "aliases": tuple(n for n in s.names[1:]),
            "cert": files["fullchain"],
            "key": files["key"],
            "chain": None,
            "ca": tuple(Path(r) for r in s.ca_roots),
            "config_root": Path(str(t.config_root)),
            "port": t.port,
            "http_port": t.http_port,
            "listen_address": t.listen_address,
            "redirect": t.redirect,
            "hsts": t.hsts,
            "decrypt_key": t.decrypt_key,
            "passphrase": self.passphrase if encrypted else None,
            "layout": t.layout,
        }
        self.say(f"Installing into {t.kind} ({t.config_root}), then probing every name")
        if t.kind == "apache":
            from padlock.site import apache

            prepared_a = apache.prepare(
                apache.ApacheRequest(**common, command=f"padlock obtain {s.name} --apache")
            )
            outcome = apache.apply(prepared_a)
            notes = [*prepared_a.plan.notes, *prepared_a.plan.warnings]
        else:
            from padlock.site import nginx

            prepared_n = nginx.prepare(
                nginx.NginxRequest(**common, command=f"padlock obtain {s.name} --nginx")
            )
            outcome = nginx.apply(prepared_n)
            notes = [*prepared_n.plan.notes, *prepared_n.plan.warnings]
        checks = tuple(r for r in (outcome.probe or ()) if isinstance(r, CheckResult))
        # Installed: the staged files become the current ones.
        current = base / "current"
        old = base / "current.old"
        shutil.rmtree(old, ignore_errors=True)
        if current.exists():
            os.replace(current, old)
        os.replace(staged, current)
        shutil.rmtree(old, ignore_errors=True)
        notes.append(f"Backup and record of the change: {outcome.backup_dir}")
        return {k: current / v.name for k, v in files.items()}, checks, notes


# --------------------------------------------------------------------------- obtain


def obtain(
    settings: Settings,
    state: SiteState,
    *,
    passphrase: bytes | None,
    agree_tos: bool = False,
    force: bool = False,
    progress: Progress = quiet,
) -> Outcome:
    """``padlock obtain``: from nothing to an installed (or written) certificate."""
    name = normalize_names(settings.names)[0]
    with state.locked():
        existing = state.load(name)
        pending = existing.pending if existing is not None else None
        if pending is not None and pending.reference and not force:
            raise Conflict(
                f"A request for {name} is already in progress ({pending.reference}).",
                hint=f"Continue it with padlock obtain --resume {pending.request_id or name},"
                " or add --force to start over.",
            )
        current = existing.current if existing is not None else None
        settings = preflight(settings, passphrase, force=force, owned=owned_files(existing))
        lineage = Lineage(
            settings=settings,
            current=current,
            history=existing.history if existing is not None else (),
        )
        state.save(lineage)
        run = Obtaining(
            state, lineage, passphrase=passphrase, agree_tos=agree_tos, progress=progress
        )
        run.start()
        return finish(run)


def finish(run: Obtaining) -> Outcome:
    """Run, and note a failure in the lineage (``padlock renew --dry-run`` shows it)."""
    try:
        return run.run()
    except PadlockError as exc:
        lin = run.state.load(run.lineage.name)
        if lin is not None:
            run.state.save(replace(lin, last_error=exc.message))
        raise


def resume(
    ref: str,
    state: SiteState,
    *,
    passphrase: bytes | None,
    overrides: Mapping[str, Any] | None = None,
    agree_tos: bool = False,
    progress: Progress = quiet,
) -> Outcome:
    """``padlock obtain --resume REF``: continue a request in flight (an ov request after its
    review, a failed check after the fix, a certificate waiting for the right --ca-root)."""
    with state.locked():
        lineage = state.find(ref)
        pending = lineage.pending
        if pending is None:
            cur = lineage.current
            raise Conflict(
                f"{lineage.name} has no request in progress"
                + (f"; certificate {cur.serial} is in place." if cur else "."),
                hint="padlock renew renews it when due; padlock obtain makes a new one.",
            )
        settings = lineage.settings
        if overrides:
            given = {k: v for k, v in overrides.items() if v is not None}
            settings = replace(settings, **given)
            if "webroot" in given:
                settings = replace(settings, standalone_port=None)
            if "standalone_port" in given:
                settings = replace(settings, webroot=None)
        if passphrase is None and settings.encrypt and settings.passphrase_file:
            passphrase = passphrase_for(replace(lineage, settings=settings), lambda _: None)
        settings = preflight(settings, passphrase, force=True, new_key=False)
        lineage = state.save(replace(lineage, settings=settings))
        progress(f"Continuing the request for {lineage.name} ({pending.reference})")
        run = Obtaining(
            state, lineage, passphrase=passphrase, agree_tos=agree_tos, progress=progress
        )
        return finish(run)


__all__ = [
    "Obtaining",
    "Outcome",
    "backend_for",
    "finish",
    "normalize_names",
    "obtain",
    "out_files",
    "owned_files",
    "preflight",
    "resume",
]
