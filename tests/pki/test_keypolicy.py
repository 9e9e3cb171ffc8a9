"""Key policy: BR 6.1.5 sizes and curves, BR 6.1.6 exponents, BR 6.1.1.3 weak and known keys."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import badkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from padlock.errors import BadCSR, ConfigError, PadlockError, UnsupportedKey, WeakKey
from padlock.pki import keypolicy
from padlock.pki.keypolicy import Blocklist, check_public_key
from tests.pki import weak_keys

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "padlock" / "pki" / "data" / keypolicy.BUILTIN_BLOCKLIST_FILE


@pytest.fixture(scope="module")
def builtin() -> Blocklist:
    return keypolicy.builtin_blocklist()


@pytest.fixture(scope="module")
def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def refused(exc_type: type[PadlockError], key: object, blocklist: Blocklist | None) -> PadlockError:
    with pytest.raises(exc_type) as info:
        check_public_key(key, blocklist)  # type: ignore[arg-type]
    assert info.value.hint, "every refusal says what to do"
    return info.value


# --- keys that pass -----------------------------------------------------------------------


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ecdsa_allowed_curves_pass(curve: ec.EllipticCurve, builtin: Blocklist) -> None:
    check_public_key(ec.generate_private_key(curve).public_key(), builtin)


def test_rsa_2048_passes(rsa2048: rsa.RSAPrivateKey, builtin: Blocklist) -> None:
    check_public_key(rsa2048.public_key(), builtin)
    check_public_key(rsa2048.public_key().public_numbers(), builtin)


@pytest.mark.parametrize("name", ["testRSA2048", "testRSA4096", "testECDSAP384", "testECDSAP521"])
def test_sound_shapes_pass_without_blocklist(name: str) -> None:
    # The RFC 9500 keys are sound in shape; only the blocklist knows they are public.
    check_public_key(weak_keys.rfc9500_key(name).public_key(), None)


# --- BR 6.1.5: sizes, curves, kinds -------------------------------------------------------


def test_rsa_1024_refused(builtin: Blocklist) -> None:
    key = rsa.generate_private_key(65537, 1024).public_key()  # noqa: S505 - refused on purpose
    error = refused(WeakKey, key, builtin)
    assert "1024 bits" in error.message and "2048" in error.message


def test_rsa_modulus_not_multiple_of_8_refused(builtin: Blocklist) -> None:
    key = weak_keys.rsa_2049_key().public_key()
    assert key.key_size == 2049
    error = refused(UnsupportedKey, key, builtin)
    assert "2049 bits" in error.message and "multiple of 8" in error.message


def test_rsa_too_large_refused(builtin: Blocklist) -> None:
    n = secrets.randbits(8200) | (1 << 8199) | 1  # the size is refused before anything else
    error = refused(UnsupportedKey, weak_keys.rsa_key_with(n, 65537), builtin)
    assert "8192" in error.message


@pytest.mark.parametrize(
    ("curve", "label"), [(ec.SECP224R1(), "P-224"), (ec.SECP256K1(), "secp256k1")]
)
def test_other_curves_refused(curve: ec.EllipticCurve, label: str, builtin: Blocklist) -> None:
    error = refused(UnsupportedKey, ec.generate_private_key(curve).public_key(), builtin)
    assert label in error.message and "P-256" in error.message


@pytest.mark.parametrize(
    ("key", "label"),
    [
        (ed25519.Ed25519PrivateKey.generate().public_key(), "Ed25519"),
        (ed448.Ed448PrivateKey.generate().public_key(), "Ed448"),
        (dsa.generate_private_key(2048).public_key(), "DSA"),
    ],
)
def test_other_key_kinds_refused(key: object, label: str, builtin: Blocklist) -> None:
    error = refused(UnsupportedKey, key, builtin)
    assert error.message.startswith(label) and "6.1.5" in error.message


# --- BR 6.1.6: the public exponent --------------------------------------------------------


def test_exponent_3_refused(builtin: Blocklist) -> None:
    key = weak_keys.exponent3_key().public_key()
    assert key.public_numbers().e == 3
    error = refused(WeakKey, key, builtin)
    assert "exponent 3" in error.message and "65537" in error.message


@pytest.mark.parametrize("e", [4, 65536, 2])
def test_even_exponent_refused(e: int, rsa2048: rsa.RSAPrivateKey, builtin: Blocklist) -> None:
    numbers = weak_keys.rsa_key_with(rsa2048.public_key().public_numbers().n, e)
    error = refused(WeakKey, numbers, builtin)
    assert "odd" in error.message


def test_exponent_1_refused(rsa2048: rsa.RSAPrivateKey, builtin: Blocklist) -> None:
    numbers = weak_keys.rsa_key_with(rsa2048.public_key().public_numbers().n, 1)
    refused(WeakKey, numbers, builtin)


def test_exponent_above_2_256_refused(rsa2048: rsa.RSAPrivateKey, builtin: Blocklist) -> None:
    numbers = weak_keys.rsa_key_with(rsa2048.public_key().public_numbers().n, 2**256 + 1)
    error = refused(UnsupportedKey, numbers, builtin)
    assert "2^256" in error.message


# --- BR 6.1.1.3: weak keys (badkeys) ------------------------------------------------------


def test_fermat_close_primes_refused(builtin: Blocklist) -> None:
    key = weak_keys.fermat_key().public_key()
    error = refused(WeakKey, key, builtin)
    assert "Fermat" in error.message and "'fermat'" in error.message


def test_roca_structured_key_refused(builtin: Blocklist) -> None:
    key = weak_keys.roca_key().public_key()
    numbers = key.public_numbers()
    assert badkeys.checkrsa(numbers.n, e=numbers.e, checks=["roca"]), "badkeys sees ROCA"
    error = refused(WeakKey, key, builtin)
    assert "ROCA" in error.message


def test_small_factor_refused(builtin: Blocklist) -> None:
    error = refused(WeakKey, weak_keys.small_factor_key().public_key(), builtin)
    assert "small prime factor" in error.message


def test_even_modulus_refused(builtin: Blocklist) -> None:
    error = refused(WeakKey, weak_keys.even_modulus_numbers(), builtin)
    assert "even" in error.message


def test_shared_prime_refused(builtin: Blocklist) -> None:
    error = refused(WeakKey, weak_keys.shared_primes_public_key(), builtin)
    assert "shares a prime factor" in error.message


def test_badkeys_blocklist_check_is_never_called(
    monkeypatch: pytest.MonkeyPatch, rsa2048: rsa.RSAPrivateKey
) -> None:
    # badkeys' own blocklist check wants downloaded data and sys.exit()s without it.
    assert "blocklist" not in keypolicy._BADKEYS_RSA_CHECKS

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("badkeys' blocklist check was called")

    monkeypatch.setitem(badkeys.checks.defaultchecks["blocklist"], "function", must_not_run)
    check_public_key(rsa2048.public_key(), None)
    with pytest.raises(WeakKey):
        check_public_key(weak_keys.fermat_key().public_key(), None)


@pytest.mark.parametrize("failure", [SystemExit(1), RuntimeError("boom")])
def test_badkeys_failure_refuses_without_exiting(
    failure: BaseException, monkeypatch: pytest.MonkeyPatch, rsa2048: rsa.RSAPrivateKey
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(badkeys, "checkrsa", broken)
    with pytest.raises(PadlockError) as info:
        check_public_key(rsa2048.public_key(), None)
    assert type(info.value) is PadlockError  # a server fault, not the key's
    assert "badkeys" in info.value.message


# --- BR 6.1.1.3: known-compromised keys (blocklists) ----------------------------------------


@pytest.mark.parametrize("name", weak_keys.RFC9500_NAMES)
def test_rfc9500_keys_are_in_the_builtin_blocklist(name: str, builtin: Blocklist) -> None:
    public = weak_keys.rfc9500_key(name).public_key()
    hit = builtin.lookup(public)
    assert hit is not None and hit.list_name == "rfc" and hit.list_id == 9
    refused(WeakKey, public, builtin)


@pytest.mark.parametrize("name", ["testRSA2048", "testRSA4096", "testECDSAP256"])
def test_rfc9500_key_refusal_names_the_blocklist(name: str, builtin: Blocklist) -> None:
    error = refused(WeakKey, weak_keys.rfc9500_key(name).public_key(), builtin)
    assert "blocklist 'rfc'" in error.message and "RFC" in error.message


def test_builtin_blocklist_is_not_complete(builtin: Blocklist) -> None:
    assert len(builtin) == len(weak_keys.RFC9500_NAMES)
    assert builtin.complete is False
    assert builtin.lookup(ec.generate_private_key(ec.SECP256R1()).public_key()) is None


def test_digest_is_badkeys_truncated_sha256_of_the_number() -> None:
    rsa_public = weak_keys.rfc9500_key("testRSA2048").public_key()
    assert isinstance(rsa_public, rsa.RSAPublicKey)
    n = rsa_public.public_numbers().n
    assert (
        keypolicy.blocklist_digest(rsa_public)
        == hashlib.sha256(n.to_bytes(256, "big")).digest()[:15]
    )
    ec_public = weak_keys.rfc9500_key("testECDSAP256").public_key()
    assert isinstance(ec_public, ec.EllipticCurvePublicKey)
    x = ec_public.public_numbers().x
    raw_x = x.to_bytes((x.bit_length() + 7) // 8, "big")  # minimal length, like badkeys
    assert keypolicy.blocklist_digest(ec_public) == hashlib.sha256(raw_x).digest()[:15]


def test_shipped_file_is_what_the_script_makes_from_the_pems() -> None:
    pems = sorted((weak_keys.DATA / "rfc9500").glob("*.pem"))
    assert len(pems) == len(weak_keys.RFC9500_NAMES)
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_blocklist.py"), *map(str, pems)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert made == SHIPPED.read_text()


def test_badkeys_itself_reads_the_shipped_list(tmp_path: Path) -> None:
    # createlists in badkeys' blocklistmaker: sort -u | xxd -r -p > blocklist.dat
    cache = tmp_path / "badkeys"
    cache.mkdir()
    lines = sorted(set(SHIPPED.read_text().split()))
    (cache / "blocklist.dat").write_bytes(bytes.fromhex("".join(lines)))
    (cache / "badkeysdata.json").write_text('{"blocklists": [{"id": 9, "name": "rfc"}]}')
    program = (
        "import sys, badkeys\n"
        "for path in sys.argv[1:]:\n"
        "    r = badkeys.detectandcheck(open(path).read(), checks=['blocklist'])\n"
        "    print(r['results']['blocklist']['subtest'])\n"
    )
    pems = [str(weak_keys.DATA / "rfc9500" / f"{n}.pem") for n in ("testRSA2048", "testECDSAP521")]
    out = subprocess.run(
        [sys.executable, "-c", program, *pems],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
    ).stdout
    assert out.split() == ["rfc", "rfc"]


def test_from_lines_reads_text_and_bytes_comments_and_short_lines() -> None:
    key = weak_keys.rfc9500_key("testRSA2048").public_key()
    digest = keypolicy.blocklist_digest(key).hex()
    blocklist = Blocklist.from_lines(
        ["# a comment", "", f"  {digest}01  ", b"00" * 15 + b"0c"], source="ops.txt"
    )
    hit = blocklist.lookup(key)
    assert hit is not None and hit.list_name == "debianssl"
    assert "Debian" in hit.description
    short = Blocklist.from_lines([digest], default_list_id=9)
    assert short.lookup(key) == keypolicy.BlocklistHit(9, "rfc", bytes.fromhex(digest))


@pytest.mark.parametrize("line", ["not hex at all", "abcd", "00" * 17])
def test_from_lines_refuses_a_bad_line_by_number(line: str) -> None:
    with pytest.raises(ConfigError) as info:
        Blocklist.from_lines(["# header", line], source="ops.txt")
    assert "Line 2 of ops.txt" in info.value.message


def test_binary_blocklist_dat_and_autodetection(builtin: Blocklist) -> None:
    lines = SHIPPED.read_text().split()
    dat = bytes.fromhex("".join(sorted(lines)))
    binary = Blocklist.from_badkeys_dat(dat)
    assert binary.complete and len(binary) == len(lines)
    for source in (dat, SHIPPED.read_bytes()):
        detected = Blocklist.from_bytes(source, complete=True)
        for name in weak_keys.RFC9500_NAMES:
            assert detected.lookup(weak_keys.rfc9500_key(name).public_key()) is not None
    with pytest.raises(ConfigError):
        Blocklist.from_badkeys_dat(dat[:-1])


def test_names_from_badkeysdata_json() -> None:
    names = Blocklist.badkeys_list_names('{"blocklists": [{"id": 42, "name": "example"}]}')
    assert names == {42: "example"}
    with pytest.raises(ConfigError):
        Blocklist.badkeys_list_names("{}")


def test_merged_lists(builtin: Blocklist, rsa2048: rsa.RSAPrivateKey) -> None:
    mine = rsa2048.public_key()
    operator = Blocklist.from_lines(
        [keypolicy.blocklist_digest(mine).hex() + "08"], complete=True, source="ops"
    )
    both = builtin.merged(operator)
    assert both.complete and len(both) == len(builtin) + 1
    assert both.lookup(mine) is not None
    assert both.lookup(weak_keys.rfc9500_key("testECDSAP256").public_key()) is not None
    refused(WeakKey, mine, both)


# --- CSRs: reading the key, proof of possession -------------------------------------------


def test_proof_of_possession_passes_for_a_proper_csr(rsa2048: rsa.RSAPrivateKey) -> None:
    csr = x509.load_der_x509_csr(weak_keys.csr_for(rsa2048))
    keypolicy.check_csr_proof_of_possession(csr)
    assert keypolicy.public_key_from_csr(csr) == rsa2048.public_key()


def test_proof_of_possession_fails_for_a_borrowed_key(rsa2048: rsa.RSAPrivateKey) -> None:
    victim = rsa2048.public_key().public_numbers()
    der = weak_keys.csr_der_with_spki(
        weak_keys.rsa_spki_der(victim.n, victim.e), ec.generate_private_key(ec.SECP256R1())
    )
    csr = x509.load_der_x509_csr(der)
    with pytest.raises(BadCSR) as info:
        keypolicy.check_csr_proof_of_possession(csr)
    assert "does not verify" in info.value.message


def _csr_signed_by(key: object, hash_alg: object = None, pss: bool = False) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    )
    if pss:
        pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
        return builder.sign(key, hashes.SHA256(), rsa_padding=pad).public_bytes(Encoding.DER)  # type: ignore[arg-type]
    return builder.sign(key, hash_alg).public_bytes(Encoding.DER)  # type: ignore[arg-type]


def _tampered(der: bytes) -> bytes:
    return der[:-1] + bytes([der[-1] ^ 0x01])  # the signature's last octet


@pytest.mark.parametrize(
    "make",
    [
        lambda: _csr_signed_by(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()),
        lambda: _csr_signed_by(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384()),
        lambda: _csr_signed_by(ec.generate_private_key(ec.SECP521R1()), hashes.SHA512()),
        lambda: _csr_signed_by(ec.generate_private_key(ec.SECP256R1()), hashes.SHA512()),
        lambda: _csr_signed_by(rsa.generate_private_key(65537, 2048), hashes.SHA256()),
        lambda: _csr_signed_by(rsa.generate_private_key(65537, 2048), pss=True),
        lambda: _csr_signed_by(ed25519.Ed25519PrivateKey.generate()),
    ],
    ids=["p256", "p384", "p521", "p256-sha512", "rsa", "rsa-pss", "ed25519"],
)
def test_proof_of_possession_with_the_key_agrees_with_cryptography(make: object) -> None:
    # The fast path (the key already read) decides as csr.is_signature_valid does.
    good = make()  # type: ignore[operator]
    for der, expected in ((good, True), (_tampered(good), False)):
        csr = x509.load_der_x509_csr(der)
        assert csr.is_signature_valid is expected
        key = keypolicy.public_key_from_csr(csr)
        if expected:
            keypolicy.check_csr_proof_of_possession(csr, key)
            keypolicy.check_csr_proof_of_possession(csr)
        else:
            for given in (key, None):
                with pytest.raises(BadCSR, match=r"does not verify|cannot be checked"):
                    keypolicy.check_csr_proof_of_possession(csr, given)


def test_proof_of_possession_with_a_borrowed_key_in_hand(rsa2048: rsa.RSAPrivateKey) -> None:
    # An RSA key in the SPKI, an ECDSA signature: the key's kind and the signature's differ.
    victim = rsa2048.public_key().public_numbers()
    der = weak_keys.csr_der_with_spki(
        weak_keys.rsa_spki_der(victim.n, victim.e), ec.generate_private_key(ec.SECP256R1())
    )
    csr = x509.load_der_x509_csr(der)
    with pytest.raises(BadCSR) as info:
        keypolicy.check_csr_proof_of_possession(csr, keypolicy.public_key_from_csr(csr))
    assert "does not verify" in info.value.message


def test_weak_key_csr_has_valid_proof_but_is_refused(builtin: Blocklist) -> None:
    csr = x509.load_der_x509_csr(weak_keys.csr_for(weak_keys.fermat_key()))
    keypolicy.check_csr_proof_of_possession(csr)
    with pytest.raises(WeakKey):
        check_public_key(keypolicy.public_key_from_csr(csr), builtin)


def test_csr_with_even_exponent_is_a_weak_key(rsa2048: rsa.RSAPrivateKey) -> None:
    n = rsa2048.public_key().public_numbers().n
    der = weak_keys.csr_der_with_spki(
        weak_keys.rsa_spki_der(n, 65536), ec.generate_private_key(ec.SECP256R1())
    )
    csr = x509.load_der_x509_csr(der)
    with pytest.raises(WeakKey) as info:
        keypolicy.public_key_from_csr(csr)
    assert "odd" in info.value.message
    with pytest.raises(BadCSR):
        keypolicy.check_csr_proof_of_possession(csr)


@pytest.mark.parametrize("size", [10, 4096, 4097, 20_000])
def test_blocklist_lookup_is_the_same_for_small_and_large_tables(
    size: int, rsa2048: rsa.RSAPrivateKey
) -> None:
    # Small tables are held in a dict, large ones searched where they lie: same answers.
    key = rsa2048.public_key()
    digest = keypolicy.blocklist_digest(key)
    others = {secrets.token_bytes(keypolicy.BLOCKLIST_HASH_BYTES) for _ in range(size - 1)}
    records = sorted([(d, 8) for d in others] + [(digest, 9)])
    table = b"".join(d + bytes([i]) for d, i in records)
    blocklist = Blocklist.from_badkeys_dat(table)
    hit = blocklist.lookup(key)
    assert hit is not None and hit.list_id == 9 and hit.list_name == "rfc"
    assert blocklist.lookup(ec.generate_private_key(ec.SECP256R1()).public_key()) is None
    assert len(blocklist) == size


# --- the SubjectPublicKeyInfo read from the CSR, and the blocklist digest from it ------------


def _csr_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        ec.generate_private_key(ec.SECP521R1()),
        ec.generate_private_key(ec.SECP224R1()),
        rsa.generate_private_key(65537, 2048),
    ],
    ids=["p256", "p384", "p521", "p224", "rsa"],
)
def test_public_key_info_is_what_cryptography_writes(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> None:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    csr = _csr_of(key)
    written = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    for _ in range(2):  # the first call learns the curve's prefix, the second uses it
        assert keypolicy.public_key_info(csr, csr.public_key()) == written


def test_public_key_info_writes_a_compressed_point_afresh() -> None:
    """A CSR may carry its EC point compressed (SEC 1 2.3.3); the certificate gets the
    uncompressed SPKI cryptography writes, as it always did."""
    from cryptography.hazmat.primitives.serialization import PublicFormat

    from padlock.pki import der

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    keypolicy.public_key_info(_csr_of(key), public)  # the P-256 prefix is known
    written = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    point = public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    algorithm = der.children(written)[0]
    spki = der.sequence(algorithm, der.tlv(der.BIT_STRING, b"\x00" + point))
    info = der.sequence(der.integer(0), der.sequence(), spki, b"\xa0\x00")

    class _Csr:
        tbs_certrequest_bytes = info

    got = keypolicy.public_key_info(_Csr(), public)  # type: ignore[arg-type]
    assert got == written
    assert got != spki


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_blocklist_digest_from_the_spki_is_the_digest_of_x(curve: ec.EllipticCurve) -> None:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    size = (curve.key_size + 7) // 8
    seen_short_x = False
    for scalar in range(1, 5000):  # about one key in 256 has an x with a leading zero octet
        public = ec.derive_private_key(scalar, curve).public_key()  # the same keys every run
        spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert keypolicy.blocklist_digest(public, spki) == keypolicy.blocklist_digest(public)
        if public.public_numbers().x < 1 << (8 * (size - 1)):
            seen_short_x = True
            break
    assert seen_short_x


def test_rfc9500_ec_key_is_found_through_its_spki(builtin: Blocklist) -> None:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    public = weak_keys.rfc9500_key("testECDSAP256").public_key()
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    hit = builtin.lookup(public, spki)
    assert hit is not None and hit.list_name == "rfc"
    with pytest.raises(WeakKey, match="blocklist 'rfc'"):
        check_public_key(public, builtin, spki)


@pytest.mark.parametrize("digest", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_csr_proof_of_possession_for_each_ecdsa_hash(
    digest: hashes.HashAlgorithm, curve: ec.EllipticCurve
) -> None:
    key = ec.generate_private_key(curve)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")]))
        .sign(key, digest)
    )
    keypolicy.check_csr_proof_of_possession(csr, csr.public_key())
    # Another key's signature over the same request does not prove possession.
    other = ec.generate_private_key(curve).public_key()
    with pytest.raises(BadCSR, match="does not verify"):
        keypolicy.check_csr_proof_of_possession(csr, other)
