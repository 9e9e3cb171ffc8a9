"""certbot 5.x from PyPI (its own venv, .ci/clients/certbot5, made by .ci/run) against
``padlock serve --tls`` made as the README says: ACME profiles (draft-ietf-acme-profiles:
``--preferred-profile``, ``--required-profile``, padlock's ``meta.profiles``) and
``certbot renew`` deciding from padlock's renewal information (RFC 9773).

certbot 5 asks a lineage's ``renewalInfo`` before anything else and renews when a time
picked in the suggested window has passed; only when it has no ARI answer does it fall
back to its own rule (two thirds of the lifetime) or OCSP. padlock's window is the middle
of the last third of the lifetime, and for a revoked certificate the hour ending at the
revocation (open at once). certbot 5.8 sends no ``replaces``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from padlock.acme.messages import cert_id
from padlock.pki.serials import display
from tests.interop.conftest import run
from tests.interop.readme_server import Served

ROOT = Path(__file__).resolve().parents[2]
CERTBOT5 = Path(os.environ.get("PADLOCK_CERTBOT5", ROOT / ".ci/clients/certbot5/bin/certbot"))
SHORT_LIVED_DAYS = 7  # padlock's shortlived profile: 160 hours (pki/data/profiles/shortlived.toml)


def _program() -> str:
    """certbot 5's path; the test fails when it is not installed (never a skip)."""
    if not CERTBOT5.exists():
        pytest.fail(
            f"certbot 5 is not installed at {CERTBOT5}: .ci/run makes that venv"
            " (python3 -m venv .ci/clients/certbot5; pip install 'certbot>=5,<6')."
        )
    return str(CERTBOT5)


def _args(served: Served, work: Path, *args: str, logs: str = "logs") -> list[str]:
    return [
        _program(), *args, "--non-interactive", "--server", served.directory,
        "--config-dir", str(work / "config"), "--work-dir", str(work / "work"),
        "--logs-dir", str(work / logs),
    ]  # fmt: skip


def _env(served: Served) -> dict[str, str]:
    return {"REQUESTS_CA_BUNDLE": str(served.test_root)}


def _certbot(served: Served, work: Path, *args: str, logs: str = "logs") -> str:
    proc = run(_args(served, work, *args, logs=logs), env=_env(served), timeout=60)
    return proc.stdout + proc.stderr


def _renew(served: Served, work: Path) -> tuple[str, str]:
    """``certbot renew`` as cron runs it: (what it printed, its debug log)."""
    out = _certbot(served, work, "renew", "--no-random-sleep-on-renew", logs="renew-logs")
    return out, (work / "renew-logs" / "letsencrypt.log").read_text()


def _certonly(served: Served, work: Path, name: str, *profile: str) -> list[str]:
    """``certbot certonly --standalone`` for ``name``, listening where padlock's VA fetches."""
    return _args(
        served, work, "certonly", "--standalone", "--http-01-port", str(served.http_port),
        "--agree-tos", "--register-unsafely-without-email", "-d", name, *profile,
    )  # fmt: skip


def _live(served: Served, work: Path, name: str) -> x509.Certificate:
    """The lineage's current certificate, checked (openssl verify, the name, pkilint)."""
    live = work / "config" / "live" / name
    return served.check(live / "cert.pem", live / "chain.pem", [name])


def _lifetime_days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / dt.timedelta(days=1)


def _renewal_info_path(cert: x509.Certificate) -> str:
    """The path certbot GETs for ``cert``'s renewal information (RFC 9773 4.1)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier is not None
    return f"/acme/renewal-info/{cert_id(aki.key_identifier, cert.serial_number)}"


def _window(served: Served, cert: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    """padlock's suggested renewal window for ``cert``, read as certbot reads it."""
    trust = ssl.create_default_context(cafile=str(served.test_root))
    answer = httpx.get(served.base + _renewal_info_path(cert), verify=trust, timeout=10)
    assert answer.status_code == 200, answer.text
    window = answer.json()["suggestedWindow"]
    return dt.datetime.fromisoformat(window["start"]), dt.datetime.fromisoformat(window["end"])


def _short_lived(served: Served, work: Path, option: str) -> tuple[str, x509.Certificate]:
    """A new lineage whose certificate certbot ordered with ``option short-lived``."""
    name = f"cb5-{secrets.token_hex(4)}.example.com"
    run(_certonly(served, work, name, option, "short-lived"), env=_env(served), timeout=60)
    cert = _live(served, work, name)
    assert _lifetime_days(cert) <= SHORT_LIVED_DAYS  # the profile asked for, not dv's 90 days
    return name, cert


def test_certbot5_required_profile_not_offered_fails(
    readme_padlock: Served, tmp_path: Path
) -> None:
    name = f"cb5-none-{secrets.token_hex(4)}.example.com"
    args = _certonly(readme_padlock, tmp_path, name, "--required-profile", "no-such-profile")
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **_env(readme_padlock)},
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "no-such-profile" in proc.stderr, proc.stderr  # padlock's detail, shown to the user
    log = (tmp_path / "logs" / "letsencrypt.log").read_text()
    assert "urn:ietf:params:acme:error:invalidProfile" in log
    assert not (tmp_path / "config" / "live" / name).exists()


def test_certbot5_preferred_profile_not_due_by_renewal_info(
    readme_padlock: Served, tmp_path: Path
) -> None:
    name, cert = _short_lived(readme_padlock, tmp_path, "--preferred-profile")
    start, _end = _window(readme_padlock, cert)
    assert start > dt.datetime.now(dt.UTC)  # padlock says: not yet

    out, log = _renew(readme_padlock, tmp_path)
    assert "not yet due for renewal" in out, out
    assert f'"GET {_renewal_info_path(cert)} HTTP/1.1" 200' in log
    assert _live(readme_padlock, tmp_path, name).serial_number == cert.serial_number
    print(f"certbot 5 got {display(cert.serial_number)} (short-lived); renew: not due")


def test_certbot5_required_profile_renewed_by_renewal_info(
    readme_padlock: Served, tmp_path: Path
) -> None:
    name, cert = _short_lived(readme_padlock, tmp_path, "--required-profile")
    _certbot(readme_padlock, tmp_path, "revoke", "--cert-name", name, "--reason",
             "superseded", "--no-delete-after-revoke")  # fmt: skip
    _start, end = _window(readme_padlock, cert)
    assert end <= dt.datetime.now(dt.UTC)  # revoked: padlock's window is open, and over

    out, log = _renew(readme_padlock, tmp_path)
    assert "Renewing an existing certificate" in out, out
    asked = log.index(f'"GET {_renewal_info_path(cert)} HTTP/1.1" 200')
    assert log.index("Certificate is due for renewal", asked) > asked
    # ARI decided: certbot asks OCSP only when the renewal information does not say renew
    assert ":certbot._internal.ocsp:" not in log
    renewed = _live(readme_padlock, tmp_path, name)
    assert renewed.serial_number != cert.serial_number
    assert _lifetime_days(renewed) <= SHORT_LIVED_DAYS  # the renewal keeps the required profile
    print(f"certbot 5 got {display(cert.serial_number)}, renewed {display(renewed.serial_number)}")


@pytest.mark.parametrize(
    ("option", "profile", "hours"),
    [("--preferred-profile", "tlsserver", 90 * 24), ("--required-profile", "shortlived", 160)],
)
def test_certbot5_selects_the_lean_profiles(
    readme_padlock: Served, tmp_path: Path, option: str, profile: str, hours: int
) -> None:
    """Let's Encrypt's profile names, asked for by certbot: no Common Name, no subject key
    identifier, EKU serverAuth only, no keyEncipherment; shortlived 160 hours."""
    name = f"cb5-{profile}-{secrets.token_hex(4)}.example.com"
    run(_certonly(readme_padlock, tmp_path, name, option, profile), env=_env(readme_padlock),
        timeout=60)  # fmt: skip
    cert = _live(readme_padlock, tmp_path, name)  # openssl verify, the name, pkilint
    assert cert.subject == x509.Name([])
    assert x509.SubjectKeyIdentifier.oid not in {e.oid for e in cert.extensions}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc + dt.timedelta(seconds=1)
    assert lifetime == dt.timedelta(hours=hours)
    renewal = (tmp_path / "config" / "renewal" / f"{name}.conf").read_text()
    assert profile in renewal  # certbot keeps the profile for its renewals
    print(f"certbot 5 {option} {profile}: {display(cert.serial_number)}, {hours} hours")
