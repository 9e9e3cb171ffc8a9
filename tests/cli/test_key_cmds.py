"""``padlock key new`` and ``padlock key backup``: the seed's section 3, done today."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from padlock.cli import console
from padlock.pki import keys
from tests.conftest import PASSPHRASE, Maker, OpensslKeys, Result, leftovers, pem_of

CLI = Callable[..., Result]
OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _fingerprint_of(path: Path, passphrase: str | None = PASSPHRASE) -> str:
    key = keys.load_private_key(path.read_bytes(), passphrase.encode() if passphrase else None)
    return keys.fingerprint(key.public_key())


def _assert_clean_error(result: Result, *words: str) -> None:
    assert result.rc == 1
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err


# ----------------------------------------------------------------- key new


def test_key_new_default_is_encrypted_p256(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openssl: OpenSSL
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    path = tmp_path / "www.mydomain.com.key"
    result = cli("key", "new", path)
    assert result.rc == 0, result.err
    assert _mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    fp = _fingerprint_of(path)
    assert result.out.splitlines() == [
        f"Wrote ec-p256 key to {path} (mode 0600, encrypted).",
        f"Fingerprint: {fp}",
    ]
    assert "padlock key backup" in result.err
    text = openssl("pkey", "-passin", f"pass:{PASSPHRASE}", "-in", path, "-noout", "-text").stdout
    assert "NIST CURVE: P-256" in text


@pytest.mark.parametrize(
    ("key_type", "openssl_says"),
    [
        ("ec-p256", "NIST CURVE: P-256"),
        ("ec-p384", "NIST CURVE: P-384"),
        ("rsa-2048", "Private-Key: (2048 bit, 2 primes)"),
        ("ed25519", "ED25519 Private-Key"),
    ],
)
def test_key_new_type_openssl_reads(
    cli: CLI,
    tmp_path: Path,
    passphrase_file: Path,
    openssl: OpenSSL,
    key_type: str,
    openssl_says: str,
) -> None:
    path = tmp_path / "k.pem"
    result = cli("key", "new", path, "--type", key_type, "--passphrase-file", passphrase_file)
    assert result.rc == 0, result.err
    assert _mode(path) == 0o600
    openssl("pkey", "-passin", f"pass:{PASSPHRASE}", "-in", path, "-noout")
    assert (
        openssl_says
        in openssl(
            "pkey", "-passin", f"file:{passphrase_file}", "-in", path, "-noout", "-text"
        ).stdout
    )


def test_key_new_passphrase_file_first_line(cli: CLI, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("first line pass phrase\nsecond line\n")
    assert cli("key", "new", tmp_path / "k.pem", "--passphrase-file", pw).rc == 0
    _fingerprint_of(tmp_path / "k.pem", "first line pass phrase")


def test_key_new_passphrase_file_wins_over_env(
    cli: CLI, tmp_path: Path, passphrase_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "the environment's pass phrase")
    assert cli("key", "new", tmp_path / "k.pem", "--passphrase-file", passphrase_file).rc == 0
    _fingerprint_of(tmp_path / "k.pem", PASSPHRASE)


def test_key_new_no_encrypt(cli: CLI, tmp_path: Path, openssl: OpenSSL) -> None:
    path = tmp_path / "k.pem"
    result = cli("key", "new", path, "--no-encrypt")
    assert result.rc == 0
    assert "(mode 0600, NOT encrypted)" in result.out
    assert _mode(path) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    openssl("pkey", "-in", path, "-noout")


def test_key_new_json(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    result = cli("key", "new", path, "--no-encrypt", "--type", "ed25519", "--json")
    assert result.rc == 0
    doc = json.loads(result.out)
    assert doc == {
        "file": str(path),
        "type": "ed25519",
        "encrypted": False,
        "fingerprint": _fingerprint_of(path, None),
    }


def test_key_new_prompts_twice_on_terminal(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return PASSPHRASE

    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(console.getpass, "getpass", fake_getpass)
    assert cli("key", "new", tmp_path / "k.pem").rc == 0
    assert prompts == ["Enter pass phrase for the new key: ", "Verifying - Enter pass phrase: "]
    _fingerprint_of(tmp_path / "k.pem")


def test_key_new_prompts_differ_refused(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSPHRASE, PASSPHRASE + "x"])
    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(console.getpass, "getpass", lambda prompt: next(answers))
    result = cli("key", "new", tmp_path / "k.pem")
    _assert_clean_error(result, "The two pass phrases differ; nothing was written.")
    assert list(tmp_path.iterdir()) == []


def test_key_new_no_passphrase_no_terminal_refused(cli: CLI, tmp_path: Path) -> None:
    result = cli("key", "new", tmp_path / "k.pem")
    _assert_clean_error(result, "no terminal to ask for one", "--passphrase-file", "--no-encrypt")
    assert list(tmp_path.iterdir()) == []


def test_key_new_empty_passphrase_refused(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "")
    result = cli("key", "new", tmp_path / "k.pem")
    _assert_clean_error(result, "The pass phrase is empty.", "hint: ")
    assert list(tmp_path.iterdir()) == []


def test_key_new_empty_passphrase_file_refused(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(b"")
    result = cli("key", "new", tmp_path / "k.pem", "--passphrase-file", tmp_path / "pw")
    _assert_clean_error(result, "The pass phrase is empty.")
    assert not (tmp_path / "k.pem").exists()


def test_key_new_short_passphrase_refused(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "1234")
    _assert_clean_error(cli("key", "new", tmp_path / "k.pem"), "shorter than 8 characters")
    assert list(tmp_path.iterdir()) == []


def test_key_new_missing_passphrase_file_refused(cli: CLI, tmp_path: Path) -> None:
    result = cli("key", "new", tmp_path / "k.pem", "--passphrase-file", tmp_path / "nope")
    _assert_clean_error(result, "The pass phrase file", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_key_new_passphrase_file_is_directory_refused(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    result = cli("key", "new", tmp_path / "k.pem", "--passphrase-file", tmp_path / "dir")
    _assert_clean_error(result, "is a directory, not a file")
    assert not (tmp_path / "k.pem").exists()


def test_key_new_no_encrypt_with_passphrase_file_refused(
    cli: CLI, tmp_path: Path, passphrase_file: Path
) -> None:
    result = cli(
        "key", "new", tmp_path / "k.pem", "--no-encrypt", "--passphrase-file", passphrase_file
    )
    _assert_clean_error(result, "--no-encrypt and --passphrase-file contradict")
    assert not (tmp_path / "k.pem").exists()


@pytest.mark.parametrize("key_type", ["rsa-1024", "rsa-512"])
def test_key_new_weak_rsa_refused(cli: CLI, tmp_path: Path, key_type: str) -> None:
    result = cli("key", "new", tmp_path / "k.pem", "--type", key_type, "--no-encrypt")
    _assert_clean_error(result, "bits are refused: they can be factored today", "rsa-2048")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key_type", ["secp256k1", "ec-p224", "dsa"])
def test_key_new_unknown_type_refused(cli: CLI, tmp_path: Path, key_type: str) -> None:
    result = cli("key", "new", tmp_path / "k.pem", "--type", key_type, "--no-encrypt")
    _assert_clean_error(result, f"Unknown key type '{key_type}'", "ec-p256")
    assert list(tmp_path.iterdir()) == []


def test_key_new_existing_file_refused_untouched(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    path = tmp_path / "k.pem"
    path.write_bytes(b"the only copy of an old key")
    result = cli("key", "new", path)
    _assert_clean_error(result, f"'{path}' exists already", "--force")
    assert path.read_bytes() == b"the only copy of an old key"
    assert leftovers(tmp_path) == []


def test_key_new_force_replaces(cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    assert cli("key", "new", path, "--force").rc == 0
    assert _mode(path) == 0o600
    _fingerprint_of(path)
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


def test_key_new_missing_directory_refused(cli: CLI, tmp_path: Path) -> None:
    result = cli("key", "new", tmp_path / "no" / "k.pem", "--no-encrypt")
    _assert_clean_error(result, "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_key_new_onto_directory_refused(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    _assert_clean_error(cli("key", "new", tmp_path / "d", "--no-encrypt"), "exists already")


def test_key_new_write_failure_leaves_nothing(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    result = cli("key", "new", tmp_path / "k.pem", "--no-encrypt")
    _assert_clean_error(result, "No space left on device")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- key backup


@pytest.fixture
def encrypted_key(make: Maker, ec_key: ec.EllipticCurvePrivateKey) -> Path:
    return make.key_file(ec_key, "www.mydomain.com.key", PASSPHRASE)


def test_key_backup_copies_and_proves(
    cli: CLI, tmp_path: Path, encrypted_key: Path, passphrase_file: Path, openssl: OpenSSL
) -> None:
    disk = tmp_path / "removable"
    disk.mkdir()
    result = cli("key", "backup", encrypted_key, disk, "--passphrase-file", passphrase_file)
    assert result.rc == 0, result.err
    copy = disk / "www.mydomain.com.key"
    assert copy.read_bytes() == encrypted_key.read_bytes()
    assert _mode(copy) == 0o600
    fp = _fingerprint_of(encrypted_key)
    assert result.out.strip() == (
        f"Backed up {encrypted_key} to {copy}; the copy decrypts with the pass phrase"
        f" and is the same key ({fp})."
    )
    assert "Record the pass phrase" in result.err
    openssl("pkey", "-passin", f"pass:{PASSPHRASE}", "-in", copy, "-noout")


def test_key_backup_to_file_with_env(
    cli: CLI, tmp_path: Path, encrypted_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", PASSPHRASE)
    dest = tmp_path / "copy.key"
    result = cli("key", "backup", encrypted_key, dest, "--json")
    assert result.rc == 0
    assert json.loads(result.out) == {
        "file": str(dest),
        "verified": True,
        "encrypted": True,
        "fingerprint": _fingerprint_of(encrypted_key),
    }


def test_key_backup_prompts_on_terminal(
    cli: CLI, tmp_path: Path, encrypted_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "is_terminal", lambda: True)
    monkeypatch.setattr(console.getpass, "getpass", lambda prompt: PASSPHRASE)
    assert cli("key", "backup", encrypted_key, tmp_path / "copy.key").rc == 0


def test_key_backup_wrong_passphrase_leaves_no_copy(
    cli: CLI, tmp_path: Path, encrypted_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "not the pass phrase")
    dest = tmp_path / "copy.key"
    result = cli("key", "backup", encrypted_key, dest)
    _assert_clean_error(result, "The pass phrase is wrong", "hint: Check the pass phrase")
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_key_backup_empty_passphrase_leaves_no_copy(
    cli: CLI, tmp_path: Path, encrypted_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PADLOCK_PASSPHRASE", "")
    dest = tmp_path / "copy.key"
    _assert_clean_error(cli("key", "backup", encrypted_key, dest), "pass phrase given is empty")
    assert not dest.exists()


def test_key_backup_no_passphrase_no_terminal(
    cli: CLI, tmp_path: Path, encrypted_key: Path
) -> None:
    dest = tmp_path / "copy.key"
    result = cli("key", "backup", encrypted_key, dest)
    _assert_clean_error(result, "The key is encrypted and no pass phrase was given")
    assert not dest.exists()


def test_key_backup_refuses_overwrite(
    cli: CLI, tmp_path: Path, encrypted_key: Path, passphrase_file: Path
) -> None:
    dest = tmp_path / "copy.key"
    dest.write_bytes(b"an older backup")
    result = cli("key", "backup", encrypted_key, dest, "--passphrase-file", passphrase_file)
    _assert_clean_error(result, "exists already; padlock never overwrites a backup")
    assert "--force" not in result.err  # backup has no --force
    assert dest.read_bytes() == b"an older backup"


def test_key_backup_refuses_same_name_in_directory(
    cli: CLI, tmp_path: Path, encrypted_key: Path, passphrase_file: Path
) -> None:
    # Backing up into the key's own directory would be the key itself.
    result = cli("key", "backup", encrypted_key, tmp_path, "--passphrase-file", passphrase_file)
    _assert_clean_error(result, "exists already")


def test_key_backup_unencrypted_key(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    key = make.write("plain.key", pem_of(ec_key))
    result = cli("key", "backup", key, tmp_path / "copy.key")
    assert result.rc == 0
    assert "the copy is the same key" in result.out
    assert "NOT encrypted" in result.err


def test_key_backup_openssl_traditional_key(
    cli: CLI, tmp_path: Path, openssl_keys: OpensslKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seed's own key: genrsa -des3, traditional PEM.
    monkeypatch.setenv("PADLOCK_PASSPHRASE", openssl_keys.passphrase)
    result = cli("key", "backup", openssl_keys["rsa-des3-trad.pem"], tmp_path / "copy.key")
    assert result.rc == 0, result.err
    assert "decrypts with the pass phrase" in result.out


def test_key_backup_encrypted_der_key(
    cli: CLI, tmp_path: Path, openssl_keys: OpensslKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "copy.der"
    _assert_clean_error(
        cli("key", "backup", openssl_keys["rsa-pkcs8-enc.der"], dest),
        "encrypted and no pass phrase was given",
    )
    assert not dest.exists()
    monkeypatch.setenv("PADLOCK_PASSPHRASE", openssl_keys.passphrase)
    assert cli("key", "backup", openssl_keys["rsa-pkcs8-enc.der"], dest).rc == 0


def test_key_backup_of_csr_refused(
    cli: CLI, tmp_path: Path, make: Maker, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    csr = make.csr_file(ec_key)
    dest = tmp_path / "copy"
    result = cli("key", "backup", csr, dest)
    _assert_clean_error(result, f"The key file '{csr}' is a certificate signing request")
    assert not dest.exists()


def test_key_backup_of_junk_refused(cli: CLI, tmp_path: Path, make: Maker) -> None:
    junk = make.write("junk.key", b"this is not a key")
    dest = tmp_path / "copy"
    _assert_clean_error(cli("key", "backup", junk, dest), "is not a readable private key")
    assert not dest.exists()


def test_key_backup_missing_key(cli: CLI, tmp_path: Path) -> None:
    result = cli("key", "backup", tmp_path / "nope.key", tmp_path / "copy")
    _assert_clean_error(result, "The key file", "does not exist")


def test_key_backup_missing_destination_directory(
    cli: CLI, tmp_path: Path, encrypted_key: Path, passphrase_file: Path
) -> None:
    result = cli(
        "key",
        "backup",
        encrypted_key,
        tmp_path / "no" / "copy",
        "--passphrase-file",
        passphrase_file,
    )
    _assert_clean_error(result, "does not exist")


# ----------------------------------------------------------------- the real process


def test_key_new_real_process(padlock_proc: Callable[..., Result], tmp_path: Path) -> None:
    result = padlock_proc("key", "new", "site.key", env={"PADLOCK_PASSPHRASE": PASSPHRASE})
    assert result.rc == 0, result.err
    assert _mode(tmp_path / "site.key") == 0o600
    assert f"Fingerprint: {_fingerprint_of(tmp_path / 'site.key')}" in result.out


def test_key_new_real_process_error_has_no_traceback(
    padlock_proc: Callable[..., Result], tmp_path: Path
) -> None:
    result = padlock_proc("key", "new", "site.key", "--type", "rsa-1024", "--no-encrypt")
    assert result.rc == 1
    assert result.err.splitlines()[0].startswith("error: RSA keys of 1024 bits are refused")
    assert result.err.splitlines()[1].startswith("hint: ")
    assert "Traceback" not in result.err
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []


def test_key_new_real_process_debug_shows_traceback(
    padlock_proc: Callable[..., Result], tmp_path: Path
) -> None:
    result = padlock_proc("--debug", "key", "new", "site.key", "--type", "rsa-1024")
    assert result.rc == 1
    assert "Traceback (most recent call last)" in result.err
    assert "padlock.errors.WeakKey" in result.err
    assert "error: RSA keys of 1024 bits are refused" in result.err


def test_key_new_real_process_no_terminal(
    padlock_proc: Callable[..., Result], tmp_path: Path
) -> None:
    result = padlock_proc("key", "new", "site.key")
    assert result.rc == 1
    assert "no terminal to ask for one" in result.err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["key", "new"], ["Missing argument", "padlock key new --help"]),
        (["key", "new", "k.pem", "--bogus"], ["No such option: --bogus"]),
        (["key", "bogus"], ["No such command 'bogus'"]),
    ],
)
def test_key_usage_error(cli: CLI, args: list[str], words: list[str]) -> None:
    result = cli(*args)
    assert result.rc == 2
    assert "failed unexpectedly" not in result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err


def test_key_usage_error_real_process(padlock_proc: Callable[..., Result]) -> None:
    result = padlock_proc("key", "new")
    assert result.rc == 2
    assert "Error: Missing argument" in result.err
    assert "Traceback" not in result.err


def test_key_help(cli: CLI) -> None:
    result = cli("key", "new", "--help")
    assert result.rc == 0
    assert "--passphrase-file" in result.out and "--no-encrypt" in result.out


def test_key_backup_unreadable_key(
    cli: CLI,
    make: Maker,
    ec_key: ec.EllipticCurvePrivateKey,
    unreadable: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    key = make.write("secret.key", pem_of(ec_key))
    unreadable(key)
    result = cli("key", "backup", key, tmp_path / "copy.key")
    _assert_clean_error(result, "cannot be read: permission denied")
    assert not (tmp_path / "copy.key").exists()


def test_key_new_unreadable_passphrase_file(
    cli: CLI, tmp_path: Path, passphrase_file: Path, unreadable: Callable[[Path], None]
) -> None:
    unreadable(passphrase_file)
    result = cli("key", "new", tmp_path / "k.pem", "--passphrase-file", passphrase_file)
    _assert_clean_error(result, "The pass phrase file", "cannot be read: permission denied")
    assert not (tmp_path / "k.pem").exists()
