"""What the Apache and nginx installers write alike: the site's names, paths fit for a
configuration, padlock's templates (the TLS block, the redirect), the TLS block's comments,
the sites-enabled link, the refusal of TLS settings from included files, and the
certificate files padlock keeps for a site."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from padlock.errors import InstallRefused, InvalidName
from padlock.pki import names as pki_names
from padlock.site.material import NOTHING_CHANGED, Material, refuse
from padlock.site.tls_profile import INTERMEDIATE
from padlock.site.transaction import FileChange, StateDir


def normalize_site_names(name: str, aliases: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The site's name (no wildcard: it becomes a ServerName) and its aliases, normalised,
    without duplicates."""
    try:
        primary = pki_names.normalize_dns_name(name, allow_wildcard=False)
        extra: list[str] = []
        for alias in aliases:
            norm = pki_names.normalize_dns_name(alias, allow_wildcard=True)
            if norm != primary and norm not in extra:
                extra.append(norm)
    except InvalidName as exc:
        raise InvalidName(f"{exc.message} {NOTHING_CHANGED}", hint=exc.hint) from None
    return primary, tuple(extra)


def safe_path(path: Path) -> str:
    """A path fit to write between double quotes in a server's configuration."""
    text = str(path)
    if any(c in text for c in '"\\\n\r;{}$') or not path.is_absolute():
        raise InstallRefused(
            f"The path {text!r} cannot be written safely into a web server configuration."
            f" {NOTHING_CHANGED}",
            hint="Use a config root whose path has no quotes, backslashes, braces, '$' or ';'.",
        )
    return text


def templates() -> object:
    """The Jinja2 environment of padlock's server templates (imported only when needed)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("padlock.site", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - server configuration, not HTML; inputs are validated
    )


def render(template: str, **context: object) -> str:
    env = templates()
    return env.get_template(template).render(**context)  # type: ignore[attr-defined, no-any-return]


def render_lines(template: str, **context: object) -> list[str]:
    """A rendered template's lines, without the final newline."""
    return render(template, **context).rstrip("\n").split("\n")


def tls_lines(
    server: str, fullchain: str, key: str, *, stapling: bool, hsts: bool, **extra: object
) -> list[str]:
    """padlock's TLS block for ``server`` (``apache`` or ``nginx``): its template with the
    Mozilla intermediate profile."""
    return render_lines(
        f"{server}_tls.conf.j2",
        profile=INTERMEDIATE,
        fullchain=fullchain,
        key=key,
        stapling=stapling,
        hsts=hsts,
        **extra,
    )


def redirect_lines(server: str, port: int) -> list[str]:
    """The lines that send plain HTTP to https on ``port`` (``/.well-known/`` excepted)."""
    suffix = "" if port == 443 else f":{port}"
    return render_lines(f"{server}_redirect.conf.j2", port_suffix=suffix)


def trim_blank_ends(lines: list[str]) -> list[str]:
    """``lines`` without the blank lines at either end."""
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


BLOCK_HEADER = "# padlock: certificate and TLS settings"


def block_comments(rendered: Sequence[str]) -> frozenset[str]:
    """The comment lines of padlock's TLS block (rendered with every option on), stripped."""
    return frozenset(line.strip() for line in rendered if line.strip().startswith("#"))


def stale_comments(text: str, first: int, last: int, comments: frozenset[str]) -> list[int]:
    """The 1-based lines ``first..last`` of ``text`` that are comments of an earlier padlock
    TLS block. A re-install writes the whole block anew where its first directive stood, so
    the old block's comments go with its directives (else each renewal adds a copy)."""
    physical = text.splitlines()
    found = []
    for number in range(max(first, 1), min(last, len(physical)) + 1):
        line = physical[number - 1].strip()
        if line in comments or line.startswith(BLOCK_HEADER):
            found.append(number)
    return found


def site_link(root: Path, enabled_dir: str, site_file: Path, why: str) -> FileChange:
    """The link that enables a site file (Debian's ``sites-enabled``), relative as
    ``a2ensite`` makes it."""
    return FileChange(
        root / enabled_dir / site_file.name,
        link=f"../{site_file.parent.name}/{site_file.name}",
        why=why,
    )


class Located(Protocol):
    """Where a block or a directive stands."""

    @property
    def file(self) -> Path: ...

    @property
    def line(self) -> int: ...


class Placed(Located, Protocol):
    @property
    def name(self) -> str: ...


def refuse_included_tls(
    block_kind: str, site: str, block: Located, outside: Sequence[Placed]
) -> None:
    """Refuse to edit TLS settings a site's block takes from an included file: other sites
    may include the same file (padlock changes only the site's own lines)."""
    if outside:
        where = ", ".join(f"{d.name} in {d.file}:{d.line}" for d in outside)
        raise refuse(
            f"The {block_kind} for {site} ({block.file}:{block.line}) takes TLS"
            f" settings from included files ({where}), which other sites may share.",
            hint=f"Move those lines into the {block_kind} itself, then run padlock again.",
        )


@dataclass(frozen=True)
class SiteFiles:
    """Where padlock keeps one site's certificate, key and pass phrase."""

    fullchain: Path
    key: Path
    passphrase: Path | None
    changes: tuple[FileChange, ...]


def site_files(
    state: StateDir, name: str, port: int, material: Material, decrypt_key: bool, server: str
) -> SiteFiles:
    """The certificate files for one site: full chain (0644), key (0600), and for an
    encrypted key the pass phrase (0600), all under the state directory."""
    base = state.root / "live" / f"{name}_{port}"
    fullchain = base / "fullchain.pem"
    key = base / "privkey.pem"
    changes = [
        FileChange(
            fullchain,
            material.fullchain_pem,
            mode=0o644,
            why="the certificate and its intermediates, leaf first",
            summary=material.summary(),
        )
    ]
    passphrase_file: Path | None = None
    if material.key_encrypted and decrypt_key:
        changes.append(
            FileChange(
                key,
                material.decrypted_key_pem(),
                mode=0o600,
                why="--decrypt-key: an unencrypted copy of the key, readable by root only",
                summary="private key, decrypted, mode 0600",
            )
        )
    else:
        encrypted = material.key_encrypted
        changes.append(
            FileChange(
                key,
                material.key_pem,
                mode=0o600,
                why="the private key, as given" + (" (encrypted)" if encrypted else ""),
                summary="private key" + (", encrypted" if encrypted else "") + ", mode 0600",
            )
        )
        if encrypted:
            assert material.passphrase is not None
            passphrase_file = (
                state.root / "passphrases" / (name if server == "apache" else f"{name}_{port}")
            )
            changes.append(
                FileChange(
                    passphrase_file,
                    material.passphrase + b"\n",
                    mode=0o600,
                    why=f"the key's pass phrase, for {server} restarts without a terminal",
                    summary="pass phrase, mode 0600",
                )
            )
    return SiteFiles(fullchain, key, passphrase_file, tuple(changes))
