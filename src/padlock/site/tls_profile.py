"""Mozilla's "intermediate" server-side TLS profile, as data both web servers render.

From Mozilla's guidelines (https://ssl-config.mozilla.org/guidelines/, versions 5.7 and
6.0): TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers
(AES-GCM, ChaCha20-Poly1305), ECDSA suites first; the three TLS 1.3 suites (OpenSSL's
defaults); curves X25519, P-256, P-384; the client chooses the cipher (every suite is
strong, and a client without AES hardware prefers ChaCha20); no session tickets (their
keys are rarely rotated, which undoes forward secrecy); HSTS for two years.

Differences from a generator's output, on purpose:

* no ``DHE-RSA-*`` suites: guideline 6.0 dropped them (5.7 still listed them, which made
  every server carry 2048-bit DH parameters for the sake of clients that all speak ECDHE);
* no ``X25519MLKEM768`` (6.0 lists it first): it needs OpenSSL 3.5, and an unknown group
  name makes ``SSLOpenSSLConfCmd Curves`` / ``ssl_ecdh_curve`` fail the configtest on the
  OpenSSL 3.0 of Debian 12 and RHEL 9;
* OCSP stapling only when the certificate names an OCSP responder: CAs may now omit OCSP
  (CA/Browser Forum ballot SC-063), and stapling a responder that does not exist only
  slows handshakes and fills the error log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TLSProfile:
    name: str
    guideline: str
    protocols: tuple[str, ...]
    tls12_ciphers: tuple[str, ...]  # OpenSSL names
    tls13_suites: tuple[str, ...]
    curves: tuple[str, ...]
    server_preferred_order: bool
    session_tickets: bool
    hsts_max_age: int


INTERMEDIATE = TLSProfile(
    name="intermediate",
    guideline="Mozilla server-side TLS 5.7/6.0",
    protocols=("TLSv1.2", "TLSv1.3"),
    tls12_ciphers=(
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
    tls13_suites=(
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    curves=("X25519", "prime256v1", "secp384r1"),
    server_preferred_order=False,
    session_tickets=False,
    hsts_max_age=63072000,
)
