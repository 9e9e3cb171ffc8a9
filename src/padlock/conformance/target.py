"""The server under test and what every client needs to reach it on loopback."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Eab:
    """External account binding credentials (RFC 8555 7.3.4), given by the CA's operator."""

    kid: str
    hmac_key: str  # base64url, as CAs hand it out


@dataclass(frozen=True)
class Target:
    directory: str
    ca_file: Path | None  # trusts the server's TLS certificate; None: the system's roots
    http_port: int  # where the server's VA fetches http-01 (the clients listen here)
    tls_port: int  # where it connects for tls-alpn-01
    dns: str  # the kit's DNS server, host:port
    txt_dir: Path  # TXT values the kit's DNS answers, a file per name
    work: Path  # a directory for the clients' files
    domain: str  # the test names are <random>.<domain>
    eab: Eab | None = None
    profile: str | None = None  # the profile asked for; None: the directory's first
    renewal_info: bool = True  # the directory has renewalInfo (RFC 9773)
    timeout: float = 120.0  # one client command at most

    def ssl_context(self) -> ssl.SSLContext:
        if self.ca_file is None:
            return ssl.create_default_context()
        return ssl.create_default_context(cafile=str(self.ca_file))

    def env(self) -> dict[str, str]:
        """The variables each client reads its trust anchors from."""
        if self.ca_file is None:
            return {}
        ca = str(self.ca_file)
        return {"REQUESTS_CA_BUNDLE": ca, "LEGO_CA_CERTIFICATES": ca, "NODE_EXTRA_CA_CERTS": ca}
