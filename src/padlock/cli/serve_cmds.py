"""``padlock serve``: the CA, its portal, REST API and ACME server."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from padlock.config import Settings


HostOpt = Annotated[str | None, typer.Option("--host", help="Default $PADLOCK_HOST or 127.0.0.1.")]
PortOpt = Annotated[
    int | None,
    typer.Option("--port", help="Default $PADLOCK_PORT or 8080; 0 takes any free port."),
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Default ./padlock-data.")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="The URL clients reach the CA at (default http://HOST:PORT, https with --tls).",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Worker processes.")]
LogLevelOpt = Annotated[str, typer.Option("--log-level")]
TlsOpt = Annotated[
    bool,
    typer.Option(
        "--tls",
        help="Serve HTTPS on the port, with a certificate for the base URL's host that"
        " padlock issues itself from its test hierarchy (renewed when a week is left).",
    ),
]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option("--tls-cert", help="Serve HTTPS with this certificate chain (PEM)."),
]
TlsKeyOpt = Annotated[
    Path | None,
    typer.Option("--tls-key", help="The private key of --tls-cert (PEM, unencrypted)."),
]
PkiBaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--pki-base-url",
        help="For a CA made on this first start: the plain http:// URL written into its"
        " certificates (AIA, CRL DP, OCSP). Default http on the base URL's host.",
    ),
]
PkiPortOpt = Annotated[
    int | None,
    typer.Option(
        "--pki-port",
        help="With --tls: the plain-HTTP port that answers /ca, /crl and /ocsp for"
        " relying parties (default: the PKI base URL's port, 80; 0 takes any free port).",
    ),
]
ClockOffsetOpt = Annotated[
    str | None,
    typer.Option(
        "--clock-offset",
        help="Run the TEST hierarchy's rules (validity, validation reuse) this many days"
        " ahead, e.g. 830d, to rehearse a later step of the BR schedule (default"
        " $PADLOCK_TEST_CLOCK_OFFSET). Refused for the trusted hierarchy.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataDirOpt = None,
    base_url: BaseUrlOpt = None,
    workers: WorkersOpt = 1,
    log_level: LogLevelOpt = "info",
    tls: TlsOpt = False,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    pki_base_url: PkiBaseUrlOpt = None,
    pki_port: PkiPortOpt = None,
    clock_offset: ClockOffsetOpt = None,
) -> None:
    """Serve the CA (made on first start, with no other setup) on HOST:PORT.

    With --tls the port speaks HTTPS only, and a second listener answers the PKI paths
    (issuer certificates, CRLs, OCSP) over plain HTTP on --pki-port, as relying parties
    fetch them. For the whole API over plain HTTP too, run a second `padlock serve` on
    another port with the same --data-dir: both serve the same CA.
    """
    from padlock import config, wiring
    from padlock.cli import pki_listener
    from padlock.web import serving
    from padlock.web.app import ensure_authority
    from padlock.web.tcp import protocol_class

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together.")
    tls = tls or tls_cert is not None
    if clock_offset is not None:  # checked here (trusted refused), read by every worker
        from padlock.pki.schedule import parse_clock_offset

        parse_clock_offset(clock_offset)
        os.environ["PADLOCK_TEST_CLOCK_OFFSET"] = clock_offset
    settings = config.from_env().with_overrides(data_dir=data_dir, host=host, port=port)
    # Bound first: --port 0 takes any free port, and the URLs below name the one taken.
    sock = serving.bind_tcp(settings.host, settings.port)
    settings = _with_urls(
        settings.with_overrides(port=sock.getsockname()[1]), tls, base_url, pki_base_url, pki_port
    )
    pki_sock = pki_listener.bind(settings) if tls else None
    if pki_sock is not None:
        settings = settings.with_overrides(pki_port=pki_sock.getsockname()[1])
    # Every worker reads its settings from the environment (no shared memory).
    os.environ["PADLOCK_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["PADLOCK_BASE_URL"] = settings.base_url
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _ask_token_pin(settings)
    passphrase = ensure_authority(settings.with_overrides(data_dir=settings.data_dir.resolve()))
    _check_token(settings, passphrase)
    os.environ.setdefault(wiring.ca_secret_env(settings), passphrase.decode())
    pki_listener.check_ca_pki_url(settings)
    ssl_files = _ssl_files(settings, passphrase, tls, tls_cert, tls_key)
    _prepare_workers(settings, workers)
    listener = pki_listener.start(pki_sock, settings.host)
    _announce(settings, tls)
    try:
        serving.run(
            sock,
            app="padlock.web.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=log_level,
            access_log=True,
            http=protocol_class(),  # TCP_NODELAY on every connection (see padlock.web.tcp)
            **ssl_files,
        )
    finally:
        pki_listener.stop(listener)


def _ask_token_pin(settings: Settings) -> None:
    """For a CA in a token and no PIN given: ask on a terminal, for the workers too."""
    from padlock import wiring
    from padlock.ca.signer import token_config
    from padlock.cli import console

    config = token_config(settings.ca_dir)
    if config is None or wiring.ca_passphrase(settings) is not None:
        return
    if console.is_terminal():
        os.environ[wiring.HSM_PIN_ENV] = console.token_pin_prompt(config.token_label).decode()


def _check_token(settings: Settings, pin: bytes) -> None:
    """A CA in a token: log in and find its keys before any worker starts, so a wrong PIN
    or a missing token is one clear error here, not a worker that dies."""
    from padlock.ca import signer

    if signer.token_config(settings.ca_dir) is not None:
        signer.load_issuing_signers(settings.ca_dir, pin)


def _with_urls(
    settings: Settings,
    tls: bool,
    base_url: str | None,
    pki_base_url: str | None,
    pki_port: int | None,
) -> Settings:
    """The base URL (default the bound host and port, https with --tls) and the PKI's."""
    if base_url is None and "PADLOCK_BASE_URL" not in os.environ:
        scheme = "https" if tls else "http"
        base_url = f"{scheme}://{_url_host(settings.host)}:{settings.port}"
    settings = settings.with_overrides(pki_base_url=pki_base_url, pki_port=pki_port)
    return settings.with_overrides(
        base_url=_port_taken(base_url or settings.base_url, settings.port)
    )


def _ssl_files(
    settings: Settings,
    passphrase: bytes,
    tls: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> dict[str, str]:
    """uvicorn's TLS arguments: the given certificate, or padlock's own for --tls."""
    if not tls:
        return {}
    if tls_cert is None or tls_key is None:
        tls_cert, tls_key = _own_certificate(settings, passphrase)
    return {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}


def _announce(settings: Settings, tls: bool) -> None:
    typer.echo(
        f"padlock serving on {'https' if tls else 'http'}://"
        f"{_url_host(settings.host)}:{settings.port} (data in {settings.data_dir});"
        f" roots at {settings.base_url}/roots/test.pem and /roots/trusted.pem;"
        f" ACME at {settings.base_url}/acme/directory and /acme/test/directory",
        err=True,
    )
    if settings.test_clock_offset:
        ahead = dt.datetime.now(dt.UTC).date() + settings.test_clock_offset
        typer.echo(
            f"the test hierarchy follows the rules of {ahead} ({settings.test_clock_offset.days}"
            " days ahead: validity and validation reuse); the trusted one those of today",
            err=True,
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _port_taken(url: str, port: int) -> str:
    """A base URL given with port 0 (as ``--port 0`` is) names the port really taken."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.port != 0:
        return url
    netloc = f"{_url_host(parts.hostname or '')}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _prepare_workers(settings: Settings, workers: int) -> None:
    """What the workers share: the connection balance file, and the warnings they would each
    print (said once here)."""
    from padlock.web import balance

    os.environ.pop(balance.SHARE_ENV, None)
    if workers > 1:
        # Each worker counts its connections here, so none keeps more than its share.
        share = balance.share_path(settings.data_dir.resolve(), settings.port)
        try:
            balance.create_share(share)
        except OSError as err:
            typer.echo(f"warning: connections will not be balanced over workers: {err}", err=True)
        else:
            os.environ[balance.SHARE_ENV] = str(share)
    if os.environ.get("PADLOCK_INSECURE_VA_ALWAYS_VALID", "").lower() in ("1", "true", "yes"):
        typer.echo(
            "WARNING: PADLOCK_INSECURE_VA_ALWAYS_VALID is set: ACME challenges are NOT"
            " checked (tests and benchmarks only; see docs/acme.md).",
            err=True,
        )


def _own_certificate(settings: Settings, passphrase: bytes) -> tuple[Path, Path]:
    """The server's certificate for the base URL's host, issued by this CA's test hierarchy
    (so clients trust it with the test root), kept in DATA/tls and renewed a week early."""
    import datetime as dt
    from urllib.parse import urlsplit

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from padlock import wiring
    from padlock.ca.issuance import IssueRequest
    from padlock.fileio import write_atomic
    from padlock.pki import keys
    from padlock.pki.csr import SubjectFields, build_csr

    host = urlsplit(settings.base_url).hostname or settings.host
    names = [host]
    if host in ("127.0.0.1", "localhost", "::1"):
        names = ["localhost", "127.0.0.1"]
    directory = settings.data_dir / "tls"
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = {str(v) for v in sans.get_values_for_type(x509.DNSName)} | {
            str(v) for v in sans.get_values_for_type(x509.IPAddress)
        }
        if have == set(names) and cert.not_valid_after_utc - now > dt.timedelta(days=7):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = keys.generate_key(keys.KeyType.EC_P256)
    ordered = sorted(names, key=lambda n: n[0].isdigit() or ":" in n)  # DNS names first
    dns_first = ordered[0]
    csr = build_csr(key, SubjectFields(common_name=dns_first), ordered)
    # The CA's own server name may well be internal (localhost, a lab name): allowed here.
    authority = wiring.open_authority(
        settings.with_overrides(allow_internal_names_in_test=True), passphrase
    )
    try:
        issued = authority.issuer.issue(
            IssueRequest(csr.public_bytes(Encoding.PEM), "test", actor="serve --tls")
        )
    finally:
        authority.close()
    write_atomic(key_path, keys.private_key_pem(key, None), mode=0o600, overwrite=True)
    write_atomic(cert_path, issued.fullchain_pem, overwrite=True)
    return cert_path, key_path
