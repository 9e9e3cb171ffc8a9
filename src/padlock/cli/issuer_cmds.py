"""``padlock ca new-issuer``, ``padlock ca issuers`` and ``padlock ca schedule``: the issuing
CAs under each root, and the rules each day of the BR schedule gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from padlock.cli import ca_cmds, console

if TYPE_CHECKING:
    from padlock.pki.profiles import Hierarchy

HierarchyOpt = Annotated[
    str, typer.Option("--hierarchy", help="trusted | test: whose issuing CA to roll.")
]
RootKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--root-key",
        help="The root's private key (the trusted root's, brought back from offline storage;"
        " default where ca init wrote it). The test root's is in the data dir.",
    ),
]
KeyTypeOpt = Annotated[
    str | None,
    typer.Option("--key-type", help="The new issuing CA's key type (default: the current one's)."),
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help=ca_cmds.DATA_DIR_HELP)]
PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file", help="The CA keys' pass phrase (else $PADLOCK_CA_PASSPHRASE)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json")]
OnOpt = Annotated[
    str | None,
    typer.Option("--on", help="The day whose rules to show (YYYY-MM-DD; default today, UTC)."),
]


def new_issuer(
    hierarchy: HierarchyOpt = "trusted",
    root_key: RootKeyOpt = None,
    key_type: KeyTypeOpt = None,
    data_dir: DataDirOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Roll a hierarchy to a new issuing CA under the same root.

    New certificates come from the new CA (and chain to it); the old one issues nothing
    more but keeps signing CRLs and OCSP answers for what it issued. Recorded in the
    database (audited): every host of it takes the new CA up, or refuses to issue until
    its data dir has it (padlock ca clone-to --update).
    """
    from padlock import hosts, wiring

    which = _hierarchy(hierarchy)
    settings = ca_cmds.settings_for(data_dir)
    passphrase = wiring.required_passphrase(settings, passphrase_file)
    made = hosts.new_issuer(settings, which, passphrase, root_key=root_key, key_type=key_type)
    if json_out:
        console.print_json(
            {
                "issuer": made.issuer,
                "succeeds": made.succeeds,
                "certificate": str(made.certificate_path),
                "subject": made.subject,
                "not_after": made.not_after.isoformat(),
            }
        )
        return
    print(f"Made {made.issuer} ({made.subject}), valid until {made.not_after:%Y-%m-%d}.")
    print(f"  certificate: {made.certificate_path}")
    print(f"  {made.succeeds} issues nothing more; it keeps its CRL and OCSP answers.")
    if which.value == "trusted":
        console.say("Take the trusted root key offline again; disclose the new CA (CCADB).")


def issuers(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """The issuing CAs of each hierarchy: the one that issues, and those it succeeded, with
    how many of their certificates are unexpired and when the last one expires (a
    succeeded CA answers CRLs and OCSP until then)."""
    from padlock import hosts
    from padlock.ca import identity as ident

    settings = ca_cmds.settings_for(data_dir)
    local = ident.local_identity(settings.ca_dir)
    current = set(ident.current_issuers(local).values())
    spans = hosts.issuer_spans(settings)
    rows = []
    for c in local:
        if c.issuer.endswith("-root"):
            continue
        cert = c.certificate
        alive, last = spans.get(c.issuer, (0, None))
        rows.append(
            {
                "issuer": c.issuer,
                "state": "issuing" if c.issuer in current else "succeeded",
                "subject": cert.subject.rfc4514_string(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "key_sha256": c.key_sha256,
                "unexpired_certificates": alive,
                "last_certificate_expires": last.isoformat() if last else None,
            }
        )
    if json_out:
        console.print_json({"issuers": rows})
        return
    for row in rows:
        issuer, state, until = row["issuer"], row["state"], str(row["not_after"])[:10]
        last_one = str(row["last_certificate_expires"] or "-")[:10]
        print(
            f"{issuer:<20} {state:<9} CA until {until}; {row['unexpired_certificates']}"
            f" unexpired certificates, the last until {last_one}  {row['subject']}"
        )


def schedule(
    on: OnOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Per profile, the validity and the domain validation reuse that day's rules give
    (BR 6.3.2 and 4.2.1 as amended by ballot SC-081), and when they change next."""
    from padlock import wiring
    from padlock.pki import schedule as sched

    day = _day(on)
    settings = ca_cmds.settings_for(data_dir)
    offset = settings.test_clock_offset
    # the CA's own profiles (DATA/profiles), as it issues them
    rows = sched.rules(day, test_offset=offset, profiles=wiring.load_profiles(settings).values())
    upcoming = sched.next_change(day)
    if json_out:
        console.print_json(
            {
                "on": day.isoformat(),
                "test_clock_offset_days": offset.days,
                "profiles": [r.to_dict() for r in rows],
                "next_change": upcoming.isoformat() if upcoming else None,
            }
        )
        return
    print(f"Rules on {day.isoformat()} (BR 6.3.2 validity, BR 4.2.1 validation reuse):")
    head = ("profile", "hierarchy", "rules of", "max days", "default", "reuse days")
    print("  {:<12} {:<9} {:<10} {:>8} {:>7} {:>10}".format(*head))
    for r in rows:
        print(
            f"  {r.profile:<12} {r.hierarchy:<9} {r.rules_on.isoformat():<10}"
            f" {r.max_days:>8} {r.default_days:>7} {r.reuse_days:>10}"
        )
    if upcoming:
        print(f"Next change: {upcoming.isoformat()} (padlock ca schedule --on {upcoming}).")


def _day(text: str | None) -> dt.date:
    from padlock.errors import PolicyError

    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PolicyError(f"{text!r} is not a day (YYYY-MM-DD).") from None


def _hierarchy(text: str) -> Hierarchy:
    from padlock.errors import PolicyError
    from padlock.pki.profiles import Hierarchy

    try:
        return Hierarchy(text)
    except ValueError:
        raise PolicyError(f"There is no hierarchy {text!r}; use test or trusted.") from None


def register() -> None:
    ca_cmds.app.command("new-issuer")(new_issuer)
    ca_cmds.app.command("issuers")(issuers)
    ca_cmds.app.command("schedule")(schedule)
