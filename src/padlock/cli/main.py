"""The ``padlock`` command: one Typer app, one error handler.

Command modules keep heavy imports (cryptography, SQLAlchemy, ...) inside the
functions, so ``padlock --help`` stays fast.
"""

from __future__ import annotations

import sys
import traceback

import typer

from padlock.cli import (
    ca_cmds,
    ceremony_cmds,
    conformance_cmds,
    console,
    csr_cmds,
    dash_ids,
    host_cmds,
    inspect_cmds,
    issuer_cmds,
    key_cmds,
    obtain_cmds,
    perspective_cmds,
    review_cmds,
    revoke_cmds,
    serve_cmds,
    site_cmds,
)
from padlock.errors import PadlockError

app = typer.Typer(
    name="padlock",
    help="The whole life of a web server certificate: key, CSR, CA, Apache, padlock.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
) -> None:
    console.State.debug = debug


app.add_typer(key_cmds.app, name="key")
app.add_typer(csr_cmds.app, name="csr")
inspect_cmds.register(app)
ca_cmds.register(app)
serve_cmds.register(app)
site_cmds.register(app)
review_cmds.register(app)
revoke_cmds.register(app)
host_cmds.register()
issuer_cmds.register()
ceremony_cmds.register()
obtain_cmds.register(app)
perspective_cmds.register(app)
conformance_cmds.register(app)


def _report(exc: PadlockError) -> None:
    sys.stderr.write(f"error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")


def _click_exceptions() -> tuple[
    tuple[type[Exception], ...], tuple[type[Exception], ...], tuple[type[Exception], ...]
]:
    """(exit, abort, usage-error) classes of the click that Typer runs on.

    Typer 0.2x vendors click as ``typer._click`` with its own exception classes, so
    catching ``click.ClickException`` misses every usage error (they became "failed
    unexpectedly", exit 70); older Typer raises the ``click`` package's own.
    """
    exits: list[type[Exception]] = [typer.Exit]
    aborts: list[type[Exception]] = [typer.Abort]
    usage: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:  # pragma: no cover - Typer without vendored click
        pass
    else:
        usage.append(VendoredClickException)
    # An older Typer runs on the click package, which it has imported by now; importing
    # click ourselves when Typer does not use it would only cost start-up time.
    click = sys.modules.get("click")
    if click is not None:
        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
        usage.append(click.ClickException)
    return tuple(exits), tuple(aborts), tuple(usage)


def main(argv: list[str] | None = None) -> int:
    exits, aborts, usage_errors = _click_exceptions()
    command = typer.main.get_command(app)
    dash_ids.accept_dash_ids(command)
    try:
        result = command.main(args=argv, prog_name="padlock", standalone_mode=False)
    except PadlockError as exc:
        if console.State.debug:
            traceback.print_exc()
        _report(exc)
        return 1
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except aborts:
        sys.stderr.write("Aborted.\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as exc:
        if console.State.debug:
            raise
        sys.stderr.write(
            f"error: padlock failed unexpectedly ({type(exc).__name__}: {exc}).\n"
            "hint: run again with --debug for the traceback, and report it.\n"
        )
        return 70
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
