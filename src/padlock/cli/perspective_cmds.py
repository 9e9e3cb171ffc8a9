"""``padlock perspective``: run a remote perspective of multi-perspective issuance
corroboration (BR 3.2.2.9) on another host, and give it the keys it needs."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from padlock.config import Settings

app = typer.Typer(
    help="A remote perspective: validates from where it stands, for the CA only.",
    no_args_is_help=True,
)

KEY_FILE = "perspective.key"
DirOpt = Annotated[
    Path, typer.Option("--dir", help="Where the perspective keeps its key (perspective.key).")
]
NameOpt = Annotated[str, typer.Option("--name", help="Its name, as the CA's configuration says.")]
CaKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--ca-key",
        help="The CA's request key ('padlock perspective ca-key' on the CA);"
        " default $PADLOCK_PERSPECTIVE_CA_KEY.",
    ),
]
HostOpt = Annotated[str, typer.Option("--host", help="The address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", help="The port; 0 takes any free port.")]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this chain (PEM).")
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="The key of --tls-cert.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Default ./padlock-data.")]


@app.command("init")
def init(directory: DirOpt) -> None:
    """Make the perspective's signing key (Ed25519) and print its public key for the CA's
    perspectives file."""
    from padlock.ca.mpic.signing import RequestKey, public_text
    from padlock.fileio import write_atomic

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key, pem = RequestKey.generate()
    write_atomic(directory / KEY_FILE, pem, mode=0o600)
    print(public_text(key.public))


@app.command("ca-key")
def ca_key(data_dir: DataDirOpt = None) -> None:
    """Print the CA's request key (made on first use): give it to every perspective."""
    from padlock import config, wiring
    from padlock.ca.mpic.signing import public_text

    settings = config.from_env().with_overrides(data_dir=data_dir)
    print(public_text(wiring.mpic_request_key(settings).public))


@app.command("serve")
def serve(
    directory: DirOpt,
    name: NameOpt,
    ca_key: CaKeyOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8444,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Answer the CA's signed validation requests with signed evidence. DNS lookups go to
    $PADLOCK_VA_RESOLVER (a validating resolver of this host), HTTP and TLS checks to
    $PADLOCK_VA_HTTP_PORT / $PADLOCK_VA_TLS_PORT, as the CA's own VA does."""
    from padlock import config
    from padlock.ca.issuance import utcnow
    from padlock.ca.mpic.perspective import Perspective
    from padlock.ca.mpic.signing import RequestKey, public_key
    from padlock.ca.validation import VAConfig
    from padlock.errors import ConfigError
    from padlock.fileio import read_bytes
    from padlock.web import serving
    from padlock.web.perspective_app import perspective_app

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together.")
    ca_text = ca_key or os.environ.get("PADLOCK_PERSPECTIVE_CA_KEY")
    if not ca_text:
        raise ConfigError("The CA's request key is missing.", hint="Give --ca-key.")
    key_file = directory / KEY_FILE
    key = RequestKey.from_pem(
        read_bytes(key_file, "perspective key", limit=64 * 1024), key_file.name
    )
    settings = config.from_env()
    perspective = Perspective(
        name, key, public_key(ca_text, "--ca-key"), VAConfig.for_settings(settings), utcnow
    )
    sock = serving.bind_tcp(host, port, "The perspective")
    scheme = "https" if tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"padlock serving on {scheme}://{shown}:{sock.getsockname()[1]} (perspective {name})",
        err=True,
    )
    ssl = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
    serving.run(sock, app=perspective_app(perspective), log_level="warning", **ssl)


def mpic_checks(settings: Settings, today: dt.date) -> list[tuple[str, bool, str]]:
    """``padlock doctor``'s word on multi-perspective corroboration: whether the configured
    perspectives meet BR 3.2.2.9 on ``today`` (a private CA may run fewer, and is told so)."""
    from padlock import wiring
    from padlock.ca.mpic import quorum
    from padlock.errors import PadlockError

    need = quorum.required_remote(today)
    try:
        found = wiring.perspectives(settings)
    except PadlockError as exc:
        return [("mpic", False, f"the perspectives file is unusable: {exc.message}")]
    if not found:
        return [
            (
                "mpic",
                False,
                "no remote perspectives (PADLOCK_MPIC_PERSPECTIVES): the VA validates alone;"
                f" BR 3.2.2.9 asks a publicly-trusted CA for at least {need} (a private CA may"
                " run fewer)",
            )
        ]
    problems = quorum.assess([p.place for p in found], today)
    if problems:
        return [("mpic", False, problem) for problem in problems]
    rirs = ", ".join(sorted({p.place.rir for p in found}))
    return [("mpic", True, f"{len(found)} remote perspectives ({rirs}) meet BR 3.2.2.9 today")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="perspective")
