"""``padlock serve``: the CA, its portal, REST API and ACME server."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str | None = typer.Option(None, "--host", help="Default $PADLOCK_HOST or 127.0.0.1."),
        port: int | None = typer.Option(None, "--port", help="Default $PADLOCK_PORT or 8080."),
        data_dir: Path | None = typer.Option(None, "--data-dir", help="Default ./padlock-data."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="The URL clients reach the CA at (default http://HOST:PORT)."
        ),
        workers: int = typer.Option(1, "--workers", help="Worker processes."),
        log_level: str = typer.Option("info", "--log-level"),
    ) -> None:
        """Serve the CA (made on first start, with no other setup) on HOST:PORT."""
        import uvicorn

        from padlock import config
        from padlock.web.app import ensure_authority

        settings = config.from_env().with_overrides(data_dir=data_dir, host=host, port=port)
        if base_url is None and "PADLOCK_BASE_URL" not in os.environ:
            base_url = f"http://{settings.host}:{settings.port}"
        settings = settings.with_overrides(base_url=base_url)
        # Every worker reads its settings from the environment (no shared memory).
        os.environ["PADLOCK_DATA_DIR"] = str(settings.data_dir.resolve())
        os.environ["PADLOCK_BASE_URL"] = settings.base_url
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        passphrase = ensure_authority(settings.with_overrides(data_dir=settings.data_dir.resolve()))
        os.environ.setdefault("PADLOCK_CA_PASSPHRASE", passphrase.decode())
        typer.echo(
            f"padlock serving on http://{settings.host}:{settings.port}"
            f" (data in {settings.data_dir});"
            f" roots at {settings.base_url}/roots/test.pem and /roots/trusted.pem",
            err=True,
        )
        uvicorn.run(
            "padlock.web.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=log_level,
            access_log=True,
        )
