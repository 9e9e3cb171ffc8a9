"""Real servers for the site tools: padlock's own CA issues the certificates, Debian's
``apache2`` and ``nginx`` serve them from config roots of the test's own, on free high
ports on 127.0.0.1. Names like www.example.com reach 127.0.0.1 through SNI (we connect to
the address and send the name), so nothing touches /etc/hosts.

A missing apache2 or nginx FAILS the tests (``.ci/run`` installs both); every server a
fixture starts is stopped in its teardown, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.site.site_ca import CA, start_ca
from tests.support.dnsserver import TestDNS
from tests.support.httpfiles import FileServer
from tests.support.ports import free_port
from tests.web.conftest import PadlockServer, start_padlock_server

from padlock.ca.issuance import IssuancePolicy, Issuer, IssueRequest
from padlock.ca.signer import Signer, create_authority, load_issuing_signers
from padlock.pki import keys, serials
from padlock.pki.keypolicy import builtin_blocklist
from padlock.pki.profiles import Hierarchy
from padlock.store import open_store

CA_PASSPHRASE = b"site tests ca pass phrase"
KEY_PASSPHRASE = "site key pass phrase, long enough"
# Loopback, on a port nothing listens on: the OCSP and CRL URLs in these certificates must
# never send Apache, nginx or padlock check to a real host; an unreachable responder is a
# case the installers handle.
BASE_URL = "http://127.0.0.1:1"
SBIN = "/usr/sbin:/usr/local/sbin:/sbin"
DEADLINE = 20.0


def which(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN)
    if found is None:
        pytest.fail(f"{name} is not installed; these tests need it (.ci/run installs it).")
    return found


def wait_until(what: str, condition: Callable[[], bool], deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up after {deadline:g} s waiting for: {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --------------------------------------------------------------------------- the CA


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    chain: Path
    root: Path
    serial: str
    names: tuple[str, ...]

    @property
    def root_pem(self) -> bytes:
        return self.root.read_bytes()


class SiteCA:
    """Issues "test" profile certificates (instant, 21 days) to files a site owner has."""

    def __init__(self, issuer: Issuer, ca_dir: Path) -> None:
        self.issuer = issuer
        self.ca_dir = ca_dir
        self._count = 0

    def issue(
        self,
        directory: Path,
        names: Sequence[str] = ("www.example.com",),
        *,
        passphrase: str | None = None,
        days: int | None = None,
        issuer: Issuer | None = None,
    ) -> Issued:
        self._count += 1
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        out = (issuer or self.issuer).issue(
            IssueRequest(
                csr=csr.public_bytes(serialization.Encoding.PEM), profile="test", days=days
            )
        )
        directory.mkdir(parents=True, exist_ok=True)
        tag = f"{names[0]}-{self._count}"
        cert = directory / f"{tag}.crt"
        cert.write_bytes(out.certificate_pem)
        chain = directory / f"{tag}.chain.pem"
        chain.write_bytes(out.chain_pem)
        root = directory / "root.pem"
        root.write_bytes(out.root_pem)
        key_path = directory / f"{tag}.key"
        key_path.write_bytes(keys.private_key_pem(key, passphrase.encode() if passphrase else None))
        os.chmod(key_path, 0o600)
        serial = serials.display(x509.load_pem_x509_certificate(out.certificate_pem).serial_number)
        return Issued(cert, key_path, chain, root, serial, tuple(names))


@pytest.fixture(scope="session")
def site_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteCA]:
    data = tmp_path_factory.mktemp("site-ca")
    create_authority(
        data / "ca",
        name="padlock site tests",
        passphrase=CA_PASSPHRASE,
        now=dt.datetime.now(dt.UTC),
        base_url=BASE_URL,
    )
    signers: dict[Hierarchy, Signer] = load_issuing_signers(data / "ca", CA_PASSPHRASE)
    store = open_store(f"sqlite:///{data / 'padlock.db'}")
    issuer = Issuer(store, signers, IssuancePolicy(base_url=BASE_URL), builtin_blocklist())
    yield SiteCA(issuer, data / "ca")
    store.close()


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteCA]:
    """A second, unrelated authority: its intermediate is the wrong one for site_ca's leaves."""
    data = tmp_path_factory.mktemp("other-ca")
    create_authority(
        data / "ca",
        name="another authority",
        passphrase=CA_PASSPHRASE,
        now=dt.datetime.now(dt.UTC),
        base_url=BASE_URL,
    )
    signers = load_issuing_signers(data / "ca", CA_PASSPHRASE)
    store = open_store(f"sqlite:///{data / 'padlock.db'}")
    yield SiteCA(Issuer(store, signers, IssuancePolicy(base_url=BASE_URL)), data / "ca")
    store.close()


@pytest.fixture(scope="session")
def past_issuer(site_ca: SiteCA) -> Issuer:
    """The same CA with its clock 40 days back: its 21-day certificates have expired."""
    store = site_ca.issuer._store
    signers = {h: site_ca.issuer.signer_for(h) for h in Hierarchy}
    return Issuer(
        store,
        signers,
        IssuancePolicy(base_url=BASE_URL),
        clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=40),
    )


@pytest.fixture
def key_pass_file(tmp_path: Path) -> Path:
    """A --passphrase-file holding KEY_PASSPHRASE."""
    path = tmp_path / "pass.txt"
    path.write_text(KEY_PASSPHRASE + "\n")
    return path


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir()
    return directory


def served_serial(port: int, name: str, root_pem: bytes, host: str = "127.0.0.1") -> str:
    """The serial Python's ssl sees with ONLY ``root_pem`` trusted (name checked too)."""
    ctx = ssl.create_default_context(cadata=root_pem.decode())
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return serials.display(x509.load_der_x509_certificate(der).serial_number)


def eventually_serial(
    port: int, name: str, root_pem: bytes, expected: str, in_a_row: int = 3
) -> None:
    """After a graceful reload the old workers may still answer for a moment: ask until the
    expected serial comes back ``in_a_row`` times running (bounded by DEADLINE)."""
    seen: list[str] = []
    streak = 0
    end = time.monotonic() + DEADLINE
    while streak < in_a_row:
        try:
            seen.append(served_serial(port, name, root_pem))
        except (OSError, ssl.SSLError) as exc:
            seen.append(repr(exc))
        streak = streak + 1 if seen[-1] == expected else 0
        if streak < in_a_row:
            if time.monotonic() > end:
                pytest.fail(f"{name}:{port} never settled on {expected}; last seen {seen[-3:]}")
            time.sleep(0.05)


def check_json(
    cli: Callable[..., object], port: int, name: str, root: Path, expected: str
) -> tuple[int, dict[str, object]]:
    """``padlock check --json`` until it reports ``expected`` (old workers, see above)."""
    import json

    end = time.monotonic() + DEADLINE
    while True:
        result = cli("check", f"127.0.0.1:{port}", "--name", name, "--ca", str(root), "--json")
        report = json.loads(result.out)  # type: ignore[attr-defined]
        if report["serial"] == expected or time.monotonic() > end:
            return result.rc, report  # type: ignore[attr-defined]
        time.sleep(0.1)


def reinstall_ten_times(
    site: Path, install: Callable[[Issued], object], issue: Callable[[], Issued]
) -> Issued:
    """Install, then renew and install ten times; the site file must stay as the first
    install wrote it (one managed block, the same live/ paths). Returns the last issued."""
    install(issue())
    first = site.read_text()
    assert first.count("# padlock: certificate and TLS settings") == 1
    for _ in range(10):
        renewed = issue()
        install(renewed)
    assert site.read_text() == first
    return renewed


# --------------------------------------------------------------------------- file trees

Tree = dict[str, tuple[object, ...]]


def tree(root: Path, skip: Sequence[str] = ()) -> Tree:
    """Every file, link and directory under ``root``: bytes, targets and modes."""
    out: Tree = {}
    for directory, dirs, files in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(directory, root)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        for name in sorted(dirs + files):
            path = Path(directory) / name
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in skip:
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


# --------------------------------------------------------------------------- the web servers


@dataclass
class WebServer:
    """A real Apache or nginx from a config root of the test's own (Debian's layout:
    sites-available + sites-enabled), on 127.0.0.1 only. Each server says how its binary
    is called and where its pid file and error log are; the rest is shared."""

    base: Path
    root: Path  # the config root padlock is given
    http_port: int
    https_port: int
    binary: str

    kind: ClassVar[str]
    start_args: ClassVar[tuple[str, ...]]
    reload_args: ClassVar[tuple[str, ...]]
    stop_args: ClassVar[tuple[str, ...]]
    test_args: ClassVar[tuple[str, ...]] = ("-t",)

    def argv(self, args: Sequence[str]) -> list[str]:
        raise NotImplementedError

    @property
    def env(self) -> dict[str, str] | None:
        return None

    @property
    def pid_file(self) -> Path:
        raise NotImplementedError

    @property
    def error_log(self) -> Path:
        raise NotImplementedError

    def run(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # no terminal: a pass phrase prompt would fail, not hang
        )

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def configtest(self) -> subprocess.CompletedProcess[str]:
        return self.run(*self.test_args)

    def reload(self) -> None:
        proc = self.run(*self.reload_args)
        assert proc.returncode == 0, proc.stderr + self.log()

    def enable_site(self, file_name: str, text: str) -> Path:
        """A site file written by hand, enabled (sites-enabled) and loaded."""
        site = self.root / "sites-available" / file_name
        site.write_text(text)
        (self.root / "sites-enabled" / file_name).symlink_to(f"../sites-available/{file_name}")
        self.reload()
        return site

    def start(self) -> None:
        proc = self.run(*self.start_args)
        assert proc.returncode == 0, proc.stderr + self.log()
        wait_until(f"{self.kind} listening", lambda: port_open(self.http_port) and self.running())

    def stop(self) -> None:
        pid = self.pid()
        self.run(*self.stop_args)
        if pid is not None:
            end = time.monotonic() + DEADLINE
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        path = self.error_log
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def site_file(self, name: str = "www.example.com") -> Path:
        """The file of padlock's own for a site (Debian's layout, both servers)."""
        return self.root / "sites-available" / f"padlock-{name}.conf"

    def http_get(self, path: str, host: str) -> tuple[int, str]:
        """(status, Location) of a plain HTTP request, sent by hand."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status = int(head.split()[1])
        location = ""
        for line in head.split("\r\n")[1:]:
            if line.lower().startswith("location:"):
                location = line.split(":", 1)[1].strip()
        return status, location


@dataclass
class ApacheServer(WebServer):
    kind = "apache"
    start_args = ("-k", "start")
    reload_args = ("-k", "graceful")
    stop_args = ("-k", "stop")

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, "-d", str(self.root), "-f", str(self.root / "apache2.conf"), *args]

    @property
    def env(self) -> dict[str, str]:
        var = self.base / "var"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APACHE_")}
        env.update(
            APACHE_RUN_USER="www-data",
            APACHE_RUN_GROUP="www-data",
            APACHE_PID_FILE=str(var / "run" / "apache2.pid"),
            APACHE_RUN_DIR=str(var / "run"),
            APACHE_LOCK_DIR=str(var / "lock"),
            APACHE_LOG_DIR=str(var / "log"),
            LANG="C",
        )
        return env

    @property
    def pid_file(self) -> Path:
        return self.base / "var" / "run" / "apache2.pid"

    @property
    def error_log(self) -> Path:
        return self.base / "var" / "log" / "error.log"


def _apache_root(base: Path, http_port: int) -> Path:
    """A copy of Debian's /etc/apache2 with test-owned run, lock and log directories,
    listening on 127.0.0.1:http_port only."""
    root = base / "apache2"
    shutil.copytree("/etc/apache2", root, symlinks=True)
    for sub in ("run", "lock", "log"):
        (base / "var" / sub).mkdir(parents=True)
    (root / "envvars").write_text(
        "# test-owned paths (the real envvars points at /var/run/apache2 ...)\n"
        f"export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n"
        f"export APACHE_PID_FILE={base}/var/run/apache2.pid\n"
        f"export APACHE_RUN_DIR={base}/var/run\nexport APACHE_LOCK_DIR={base}/var/lock\n"
        f"export APACHE_LOG_DIR={base}/var/log\nexport LANG=C\n"
    )
    (root / "ports.conf").write_text(f"Listen 127.0.0.1:{http_port}\n")
    with (root / "apache2.conf").open("a") as fh:
        fh.write("\nServerName localhost\n")
    www = base / "www"
    www.mkdir()
    (www / "index.html").write_text("plain old http\n")
    (root / "sites-available" / "000-default.conf").write_text(
        f"<VirtualHost 127.0.0.1:{http_port}>\n"
        f"    DocumentRoot {www}\n"
        f"    <Directory {www}>\n        Require all granted\n    </Directory>\n"
        "</VirtualHost>\n"
    )
    return root


@dataclass
class NginxServer(WebServer):
    kind = "nginx"
    start_args = ()
    reload_args = ("-s", "reload")
    stop_args = ("-s", "quit")

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.binary, "-c", str(self.conf), "-e", str(self.error_log), *args]

    @property
    def pid_file(self) -> Path:
        return self.base / "var" / "nginx.pid"

    @property
    def error_log(self) -> Path:
        return self.base / "var" / "error.log"


def _nginx_root(base: Path, http_port: int) -> Path:
    """Debian's layout (sites-available + sites-enabled), every path test-owned."""
    root = base / "nginx"
    for sub in ("sites-available", "sites-enabled"):
        (root / sub).mkdir(parents=True)
    var = base / "var"
    (var / "tmp").mkdir(parents=True)
    www = base / "www"
    www.mkdir()
    (www / "index.html").write_text("plain old http\n")
    shutil.copy("/etc/nginx/mime.types", root / "mime.types")
    (root / "nginx.conf").write_text(
        "user www-data;\nworker_processes 1;\n"
        f"pid {var}/nginx.pid;\nerror_log {var}/error.log;\n"
        "events {\n    worker_connections 64;\n}\n"
        "http {\n"
        "    include mime.types;\n"
        f"    access_log {var}/access.log;\n"
        f"    client_body_temp_path {var}/tmp/body;\n"
        f"    proxy_temp_path {var}/tmp/proxy;\n"
        f"    fastcgi_temp_path {var}/tmp/fastcgi;\n"
        f"    uwsgi_temp_path {var}/tmp/uwsgi;\n"
        f"    scgi_temp_path {var}/tmp/scgi;\n"
        f"    include {root}/sites-enabled/*;\n"
        "}\n"
    )
    (root / "sites-available" / "default").write_text(
        "server {\n"
        f"    listen 127.0.0.1:{http_port} default_server;\n"
        "    server_name _;\n"
        f"    root {www};\n"
        "}\n"
    )
    (root / "sites-enabled" / "default").symlink_to("../sites-available/default")
    return root


SERVERS: dict[str, tuple[type[WebServer], Callable[[Path, int], Path], str]] = {
    "apache": (ApacheServer, _apache_root, "apache2"),
    "nginx": (NginxServer, _nginx_root, "nginx"),
}


@contextlib.contextmanager
def config_root(kind: str) -> Iterator[WebServer]:
    """A config root only (no server running): enough for refusals and dry runs."""
    server_class, make_root, binary_name = SERVERS[kind]
    binary = which(binary_name)
    base = Path(tempfile.mkdtemp(prefix=f"padlock-{kind}-"))
    os.chmod(base, 0o755)  # noqa: S103 - the workers (www-data) traverse it to the docroot
    try:
        http_port, https_port = free_port(), free_port()
        yield server_class(base, make_root(base, http_port), http_port, https_port, binary)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def running(server: WebServer) -> Iterator[WebServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=sorted(SERVERS))
def web_root(request: pytest.FixtureRequest) -> Iterator[WebServer]:
    """Each server's config root, in turn (the shared tests run over both)."""
    with config_root(request.param) as server:
        yield server


@pytest.fixture
def web(web_root: WebServer) -> Iterator[WebServer]:
    """Each server, running from its config root, in turn."""
    with running(web_root) as server:
        yield server


def _started(kind: str) -> Iterator[WebServer]:
    with config_root(kind) as root, running(root) as server:
        yield server


@pytest.fixture
def apache() -> Iterator[WebServer]:
    """Debian's apache2, running from the test's config root."""
    yield from _started("apache")


@pytest.fixture
def nginx() -> Iterator[WebServer]:
    """Debian's nginx, running from the test's config root."""
    yield from _started("nginx")


def install_args(server: WebServer, issued: Issued, name: str = "www.example.com") -> list[str]:
    """``padlock apache|nginx install`` for ``issued`` into ``server``, on 127.0.0.1."""
    return [
        server.kind,
        "install",
        "--name",
        name,
        "--cert",
        str(issued.cert),
        "--key",
        str(issued.key),
        "--chain",
        str(issued.chain),
        "--ca",
        str(issued.root),
        "--config-root",
        str(server.root),
        "--port",
        str(server.https_port),
        "--http-port",
        str(server.http_port),
        "--listen-address",
        "127.0.0.1",
    ]


def installed(
    cli: Callable[..., Any],
    server: WebServer,
    issued: Issued,
    *extra: str,
    name: str = "www.example.com",
) -> Any:
    """``padlock <server> install`` that must succeed."""
    result = cli(*install_args(server, issued, name), *extra)
    assert result.rc == 0, result.err + server.log()
    return result


def installed_beside(
    cli: Callable[..., Any], server: WebServer, issued: Issued, file_name: str, template: str
) -> tuple[Path, str, Any]:
    """Install next to a site file written by hand from ``template`` (``{port}`` is the
    plain HTTP port, ``{www}`` the document root): (that file, its text, the result)."""
    original = template.format(port=server.http_port, www=server.base / "www")
    shared = server.enable_site(file_name, original)
    return shared, original, installed(cli, server, issued)


def sees(
    cli: Callable[..., Any], server: WebServer, issued: Issued, name: str, rc: int = 0
) -> None:
    """padlock check and Python's ssl (only padlock's root trusted) both see the serial."""
    eventually_serial(server.https_port, name, issued.root_pem, issued.serial)
    code, report = check_json(cli, server.https_port, name, issued.root, issued.serial)
    assert code == rc, report
    assert report["serial"] == issued.serial
    assert report["verified"] is True
    assert report["name_matches"] is True
    assert isinstance(report["chain"], list) and len(report["chain"]) == 2  # leaf + intermediate


@pytest.fixture(scope="session")
def client_ca(
    tmp_path_factory: pytest.TempPathFactory, dns: TestDNS
) -> Iterator[tuple[PadlockServer, int]]:
    """A padlock serve for the CA clients' tests (tests/site/test_backend_*.py) whose
    validation fetches HTTP checks from a free port (the test's listener)."""
    va_port = free_port()
    server = start_padlock_server(
        tmp_path_factory.mktemp("client-ca"),
        dns=dns,
        extra_env={"PADLOCK_VA_HTTP_PORT": str(va_port)},
    )
    try:
        yield server, va_port
    finally:
        server.stop()


# --------------------------------------------------------------------------- obtain and renew


@pytest.fixture(scope="session")
def dns() -> Iterator[TestDNS]:
    """Every name is 127.0.0.1, for the CA's checks in the obtain and renew tests."""
    server = TestDNS().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webroot_ca(tmp_path_factory: pytest.TempPathFactory, dns: TestDNS) -> Iterator[CA]:
    """The CA fetches the HTTP check from a file server over ``ca.webroot``."""
    base = tmp_path_factory.mktemp("obtain-ca")
    webroot = base / "www"
    webroot.mkdir()
    web = FileServer(root=webroot).start()
    ca = start_ca(base, dns, web=web)
    ca.webroot = webroot
    try:
        yield ca
    finally:
        ca.server.stop()
        web.stop()


@pytest.fixture(scope="session")
def standalone_ca(tmp_path_factory: pytest.TempPathFactory, dns: TestDNS) -> Iterator[CA]:
    """The CA fetches the HTTP check from a free port where only padlock obtain listens."""
    ca = start_ca(tmp_path_factory.mktemp("obtain-standalone-ca"), dns, va_port=free_port())
    try:
        yield ca
    finally:
        ca.server.stop()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"
