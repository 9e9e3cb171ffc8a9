"""Which public keys padlock certifies: the CA/Browser Forum rules, weak keys, blocklists.

Rules, in the order they are checked (each refusal says why and what to do):

- BR 6.1.5 (key sizes): RSA with a modulus of at least 2048 bits whose size is a
  multiple of 8; ECDSA on P-256, P-384 or P-521 only. Nothing else: Ed25519, Ed448
  and DSA keys cannot be certified for the web. padlock also caps RSA at 8192 bits
  so that one CSR cannot cost the CA seconds of work.
- BR 6.1.6 (parameter quality): the RSA public exponent is odd and at least 3, and
  SHOULD lie in 2^16+1 .. 2^256-1; padlock makes the SHOULD a MUST (so exponent 3
  is refused too). ECDSA points are validated by ``cryptography`` when a key is
  loaded: an invalid point never becomes a key object.
- BR 6.1.1.3 (reject weak and known-compromised keys): the key is looked up in a
  :class:`Blocklist` of truncated hashes (badkeys' format: Debian weak keys, keys
  published in RFCs and software, ...), and RSA keys go through the computational
  checks of ``badkeys`` (Fermat close primes, ROCA, small factors, primes shared with
  known-broken keys, polynomial patterns, Wiener's small d, invalid values).

This module is pure: keys and data in, a refusal or nothing out. The one exception
is :func:`builtin_blocklist`, which reads the small list padlock ships in its own
package. badkeys' blocklist download is never used here; an operator's copy of
badkeys' ``blocklist.dat`` is read by the caller and handed to
:meth:`Blocklist.from_badkeys_dat`.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import mmap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import badkeys
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
    x448,
    x25519,
)
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import SignatureAlgorithmOID

from padlock.errors import BadCSR, ConfigError, PadlockError, UnsupportedKey, WeakKey
from padlock.pki import der
from padlock.pki.keys import is_ec_key, is_rsa_key

MIN_RSA_BITS = 2048  # BR 6.1.5
MAX_RSA_BITS = 8192  # padlock's own cap, against CSRs that cost the CA seconds
MIN_RSA_EXPONENT = 2**16 + 1  # BR 6.1.6 SHOULD, enforced
MAX_RSA_EXPONENT = 2**256 - 1  # BR 6.1.6 SHOULD, enforced

# BR 6.1.5: the only curves for subscriber keys (NIST P-256, P-384, P-521).
ALLOWED_CURVES: Mapping[str, str] = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}

_NEW_KEY_HINT = (
    "Make a new key and CSR (padlock key new; padlock csr new): ECDSA P-256 is the default,"
    " RSA 2048, 3072 or 4096 on request."
)

# badkeys' computational RSA checks: every default check of type "rsa". The
# "blocklist" check (type "all") reads downloaded data and calls sys.exit() when it
# is missing, so it is left out; padlock does its own lookup in the same format.
_BADKEYS_RSA_CHECKS: tuple[str, ...] = tuple(
    name for name, check in badkeys.defaultchecks.items() if check["type"] == "rsa"
)

_BADKEYS_REASONS: Mapping[str, str] = {
    "fermat": "its two primes are so close together that Fermat's method factors it"
    " at once (the close-prime flaw of some printers and appliances, CVE-2022-26320)",
    "roca": "it was made by Infineon's flawed key generator (ROCA, CVE-2017-15361):"
    " its primes have a structure that lets anyone factor it",
    "rsainvalid": "its public exponent is not valid for its modulus",
    "rsapoly": "its modulus has a zero-byte pattern that lets it be factored",
    "sharedprimes": "it shares a prime factor with public keys known to be broken",
    "smalld": "its private exponent is small enough to be found (Wiener's attack)",
    "smallfactors": "its modulus has a small prime factor: the key is corrupt or sabotaged",
}


# --- blocklists ---------------------------------------------------------------------------

BLOCKLIST_HASH_BYTES = 15
"""badkeys keeps the first 15 bytes (120 bits) of a SHA-256."""

_RECORD_BYTES = BLOCKLIST_HASH_BYTES + 1  # the hash, then one byte naming the list

# The list ids of badkeys' blocklist data (its badkeysdata.json, format 0).
BADKEYS_LIST_NAMES: Mapping[int, str] = {
    1: "debianssl",
    2: "keypair",
    3: "ransomware",
    4: "documentation",
    5: "firmware",
    6: "localhostcert",
    7: "localroot",
    8: "misc",
    9: "rfc",
    10: "softwaretests",
    11: "testvectors",
    12: "web",
    13: "git",
    99: "new",
}

_LIST_DESCRIPTIONS: Mapping[str, str] = {
    "debianssl": "a Debian OpenSSL weak key (CVE-2008-0166): its private key can be"
    " regenerated by anyone",
    "rfc": "a test key published with its private half in an RFC (such as RFC 9500)",
    "documentation": "a key published with its private half in documentation",
    "testvectors": "a key published with its private half as a test vector",
    "softwaretests": "a key published with its private half in software's tests",
    "firmware": "a key whose private half is in publicly available firmware",
}

RFC9500_LIST_ID = 9  # padlock's shipped list uses badkeys' id for keys from RFCs


def blocklist_digest(
    public_key: PublicKeyTypes | rsa.RSAPublicNumbers, spki: bytes | None = None
) -> bytes:
    """The truncated hash badkeys files a key under.

    badkeys (``allkeys/block.py``, and blocklistmaker that builds its data) hashes
    one number of the key, as an unsigned big-endian integer of minimal length
    (no leading zero bytes), with SHA-256, and keeps the first 15 bytes: the modulus
    ``n`` of an RSA key, the ``x`` coordinate of an EC point, the raw public key of an
    Ed25519/Ed448 key read as an integer, ``y`` of a DSA key. Not the SPKI.

    ``spki``, the key's SubjectPublicKeyInfo DER if the caller has it, gives an EC
    key's ``x`` without making Python numbers of the point (a fifth of the cost).
    """
    value: int
    if spki is not None and is_ec_key(public_key):
        x = _ec_x(spki, public_key.curve.key_size)
        if x is not None:
            return hashlib.sha256(x.lstrip(b"\x00")).digest()[:BLOCKLIST_HASH_BYTES]
    if isinstance(public_key, rsa.RSAPublicNumbers):
        value = public_key.n
    elif is_rsa_key(public_key):
        value = public_key.public_numbers().n
    elif is_ec_key(public_key):
        value = public_key.public_numbers().x
    elif isinstance(
        public_key,
        ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
        | x25519.X25519PublicKey
        | x448.X448PublicKey,
    ):
        value = int.from_bytes(public_key.public_bytes_raw(), "big")
    elif isinstance(public_key, dsa.DSAPublicKey):
        value = public_key.public_numbers().y
    else:
        raise UnsupportedKey(
            f"padlock cannot look up a {type(public_key).__name__} in a blocklist."
        )
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return hashlib.sha256(raw).digest()[:BLOCKLIST_HASH_BYTES]


def _ec_x(spki: bytes, key_size: int) -> bytes | None:
    """The x coordinate's octets of an uncompressed EC point ending ``spki`` (its BIT
    STRING holds 0x04, x, y: SEC 1 2.3.3), or None if it does not end so."""
    size = (key_size + 7) // 8
    point = spki[-(2 * size + 1) :]
    if len(point) != 2 * size + 1 or point[0] != 0x04:
        return None
    return point[1 : 1 + size]


def public_key_info(csr: x509.CertificateSigningRequest, public_key: PublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``public_key`` (read from ``csr``) as ``cryptography``
    writes it: the CSR's own bytes when they are that encoding already (an EC key on an
    allowed curve, named, uncompressed: RFC 5480 section 2), else written afresh."""
    if not is_ec_key(public_key):
        return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    name = public_key.curve.name
    size = (public_key.curve.key_size + 7) // 8
    prefix = _EC_SPKI_PREFIX.get(name)
    if prefix is not None:
        # CertificationRequestInfo (RFC 2986 4.1): version, subject, the SPKI, attributes.
        fields = der.children(csr.tbs_certrequest_bytes)
        if len(fields) >= 3:
            spki = fields[2]
            if len(spki) == len(prefix) + 2 * size and spki.startswith(prefix):
                return spki
    written = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if prefix is None and name in ALLOWED_CURVES and _ec_x(written, size * 8) is not None:
        # What cryptography writes before x and y for this curve, learnt from its own output.
        _EC_SPKI_PREFIX[name] = written[: -2 * size]
    return written


_EC_SPKI_PREFIX: dict[str, bytes] = {}


@dataclass(frozen=True)
class BlocklistHit:
    """Where a key was found: the list's id and name (badkeys' numbering)."""

    list_id: int
    list_name: str
    digest: bytes

    @property
    def description(self) -> str:
        return _LIST_DESCRIPTIONS.get(
            self.list_name, f"a key known to be compromised (blocklist {self.list_name!r})"
        )


_Table = bytes | mmap.mmap
_SMALL_TABLE_BYTES = 4096 * _RECORD_BYTES


@dataclass(frozen=True)
class Blocklist:
    """Truncated SHA-256 hashes of known-compromised keys, in badkeys' format.

    Each table is a sorted run of 16-byte records: 15 bytes of hash, then one byte
    naming the list (see :data:`BADKEYS_LIST_NAMES`). That is badkeys'
    ``blocklist.dat`` byte for byte (an operator's copy may be passed as an ``mmap``),
    and its text form is blocklistmaker's: one record per line, 32 hex digits.
    ``complete`` says whether a full blocklist (Debian weak keys and the rest) is
    among the tables; padlock's shipped list alone is not complete.
    """

    tables: tuple[_Table, ...] = ()
    complete: bool = False
    sources: tuple[str, ...] = ()
    names: Mapping[int, str] = field(
        default_factory=lambda: dict(BADKEYS_LIST_NAMES), compare=False, hash=False
    )

    _indexes: tuple[Mapping[bytes, int] | None, ...] = field(
        init=False, default=(), repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for table in self.tables:
            if len(table) % _RECORD_BYTES:
                raise ConfigError(
                    f"A blocklist table has {len(table)} bytes, not a multiple of {_RECORD_BYTES}.",
                    hint="Use badkeys' blocklist.dat as downloaded (badkeys --update-bl).",
                )
        # Small tables (padlock's own list, an operator's few keys) are looked up in a
        # dict, large ones (badkeys' millions) by binary search where they lie.
        object.__setattr__(self, "_indexes", tuple(_index(table) for table in self.tables))

    def __len__(self) -> int:
        return sum(len(t) // _RECORD_BYTES for t in self.tables)

    def lookup(
        self, public_key: PublicKeyTypes | rsa.RSAPublicNumbers, spki: bytes | None = None
    ) -> BlocklistHit | None:
        """The list holding ``public_key`` (``spki``: its DER, if at hand), or None. A binary
        search per table."""
        digest = blocklist_digest(public_key, spki)
        for table, index in zip(self.tables, self._indexes, strict=True):
            list_id = _search(table, digest) if index is None else index.get(digest)
            if list_id is not None:
                return BlocklistHit(list_id, self.names.get(list_id, f"id{list_id}"), digest)
        return None

    def merged(self, other: Blocklist) -> Blocklist:
        """Both lists' tables; complete when either is."""
        return Blocklist(
            tables=self.tables + other.tables,
            complete=self.complete or other.complete,
            sources=self.sources + other.sources,
            names={**self.names, **other.names},
        )

    @classmethod
    def from_lines(
        cls,
        lines: Iterable[str | bytes],
        *,
        complete: bool = False,
        source: str = "",
        default_list_id: int = 0,
        names: Mapping[int, str] | None = None,
    ) -> Blocklist:
        """Parse the text form: per line 30 hex digits of hash and 2 of list id.

        Lines of only 30 digits get ``default_list_id``. Blank lines and lines
        starting with ``#`` are skipped. Duplicate hashes keep their first list id.
        """
        records: dict[bytes, int] = {}
        for number, raw in enumerate(lines, start=1):
            line = (raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw).strip()
            if not line or line.startswith("#"):
                continue
            try:
                blob = bytes.fromhex(line)
            except ValueError:
                blob = b""
            if len(blob) == _RECORD_BYTES:
                digest, list_id = blob[:BLOCKLIST_HASH_BYTES], blob[BLOCKLIST_HASH_BYTES]
            elif len(blob) == BLOCKLIST_HASH_BYTES:
                digest, list_id = blob, default_list_id
            else:
                where = f" of {source}" if source else ""
                raise ConfigError(
                    f"Line {number}{where} is not a blocklist entry: {line[:60]!r}.",
                    hint="Each line holds 32 hex digits: 30 of truncated SHA-256, 2 of list id"
                    " (the format of badkeys' blocklistmaker).",
                )
            records.setdefault(digest, list_id)
        table = b"".join(d + bytes([i]) for d, i in sorted(records.items()))
        return cls(
            tables=(table,) if table else (),
            complete=complete,
            sources=(source,) if source else (),
            names={**BADKEYS_LIST_NAMES, **(names or {})},
        )

    @classmethod
    def from_badkeys_dat(
        cls,
        data: _Table,
        *,
        complete: bool = True,
        source: str = "badkeys blocklist.dat",
        names: Mapping[int, str] | None = None,
    ) -> Blocklist:
        """badkeys' binary ``blocklist.dat`` (bytes or an mmap of the file), sorted as shipped."""
        return cls(
            tables=(data,) if len(data) else (),
            complete=complete,
            sources=(source,),
            names={**BADKEYS_LIST_NAMES, **(names or {})},
        )

    @classmethod
    def from_bytes(
        cls,
        data: _Table,
        *,
        complete: bool = True,
        source: str = "",
        names: Mapping[int, str] | None = None,
    ) -> Blocklist:
        """An operator's file, in either form: badkeys' binary ``blocklist.dat`` or text lines.

        Text is recognised by its first 4 KiB being printable ASCII.
        """
        head = data[:4096]
        if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
            return cls.from_lines(
                bytes(data).splitlines(), complete=complete, source=source, names=names
            )
        return cls.from_badkeys_dat(
            data, complete=complete, source=source or "badkeys blocklist.dat", names=names
        )

    @staticmethod
    def badkeys_list_names(badkeysdata_json: str | bytes) -> dict[int, str]:
        """List ids and names from badkeys' ``badkeysdata.json``."""
        try:
            doc: Any = json.loads(badkeysdata_json)
            return {int(item["id"]): str(item["name"]) for item in doc["blocklists"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"badkeysdata.json cannot be read ({exc}).",
                hint="Use the file badkeys --update-bl wrote next to blocklist.dat.",
            ) from None


class _RecordView(Sequence[bytes]):
    """The hashes of a table as a sorted sequence, for :mod:`bisect`."""

    def __init__(self, table: _Table) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table) // _RECORD_BYTES

    def __getitem__(self, index: Any) -> Any:
        start = index * _RECORD_BYTES
        return self._table[start : start + BLOCKLIST_HASH_BYTES]


def _index(table: _Table) -> dict[bytes, int] | None:
    """{hash: list id} of a small table (the first record of a hash wins, as in a search);
    None for a large one, searched where it lies."""
    if len(table) > _SMALL_TABLE_BYTES:
        return None
    index: dict[bytes, int] = {}
    for at in range(0, len(table), _RECORD_BYTES):
        index.setdefault(
            bytes(table[at : at + BLOCKLIST_HASH_BYTES]), table[at + BLOCKLIST_HASH_BYTES]
        )
    return index


def _search(table: _Table, digest: bytes) -> int | None:
    view = _RecordView(table)
    index = bisect.bisect_left(view, digest)
    if index < len(view) and view[index] == digest:
        return table[index * _RECORD_BYTES + BLOCKLIST_HASH_BYTES]
    return None


BUILTIN_BLOCKLIST_FILE = "rfc9500-keys.txt"


@functools.cache
def builtin_blocklist() -> Blocklist:
    """The known-bad keys padlock ships: the published test keys of RFC 9500.

    Not a complete blocklist (``complete`` is False): for the Debian weak keys and the
    rest, the operator names badkeys' data.
    """
    text = (
        resources.files("padlock.pki").joinpath("data", BUILTIN_BLOCKLIST_FILE).read_text("ascii")
    )
    return Blocklist.from_lines(
        text.splitlines(), complete=False, source=f"padlock built-in ({BUILTIN_BLOCKLIST_FILE})"
    )


# --- the key policy -----------------------------------------------------------------------


def check_public_key(
    public_key: PublicKeyTypes | rsa.RSAPublicNumbers,
    blocklist: Blocklist | None,
    spki: bytes | None = None,
) -> None:
    """Refuse a key padlock must not certify; return None for a good one.

    ``public_key`` may also be raw :class:`RSAPublicNumbers`, which can hold values
    ``cryptography`` would refuse to make a key of. ``blocklist`` None skips the
    blocklist lookup (say so to the operator: see :attr:`Blocklist.complete`).
    ``spki`` is the key's SubjectPublicKeyInfo DER, if the caller has it.

    Raises :class:`WeakKey` (a key that is broken, compromised or too small) or
    :class:`UnsupportedKey` (a kind or shape of key the Baseline Requirements do not allow).
    """
    if is_rsa_key(public_key):
        numbers = public_key.public_numbers()
        _check_rsa_numbers(numbers.n, numbers.e)
    elif isinstance(public_key, rsa.RSAPublicNumbers):
        _check_rsa_numbers(public_key.n, public_key.e)
    elif is_ec_key(public_key):
        _check_curve(public_key.curve)
    else:
        _refuse_kind(public_key)
    if blocklist is not None:
        hit = blocklist.lookup(public_key, spki)
        if hit is not None:
            raise WeakKey(
                f"This key is {hit.description}; anybody may hold its private key"
                f" (found in blocklist {hit.list_name!r}, BR 6.1.1.3).",
                hint="Never use a key copied from documentation, tests or firmware. "
                + _NEW_KEY_HINT,
            )
    if is_rsa_key(public_key) or isinstance(public_key, rsa.RSAPublicNumbers):
        numbers_n, numbers_e = _rsa_ne(public_key)
        _check_with_badkeys(numbers_n, numbers_e)


def _rsa_ne(public_key: rsa.RSAPublicKey | rsa.RSAPublicNumbers) -> tuple[int, int]:
    numbers = (
        public_key if isinstance(public_key, rsa.RSAPublicNumbers) else public_key.public_numbers()
    )
    return numbers.n, numbers.e


def _check_rsa_numbers(n: int, e: int) -> None:
    bits = n.bit_length()
    # BR 6.1.5: "the modulus size, when encoded, is at least 2048 bits".
    if bits < MIN_RSA_BITS:
        raise WeakKey(
            f"RSA keys of {bits} bits are refused: the Baseline Requirements (6.1.5) want at"
            f" least {MIN_RSA_BITS} bits, and 1024-bit RSA has been within reach of attackers"
            " for years.",
            hint=_NEW_KEY_HINT,
        )
    # BR 6.1.5: "the modulus size, in bits, is evenly divisible by 8".
    if bits % 8:
        raise UnsupportedKey(
            f"The RSA modulus has {bits} bits; the Baseline Requirements (6.1.5) want a"
            " multiple of 8 (2048, 3072, 4096, ...).",
            hint="Such a key comes from a broken or hand-made generator. " + _NEW_KEY_HINT,
        )
    if bits > MAX_RSA_BITS:
        raise UnsupportedKey(
            f"RSA keys of {bits} bits are not accepted; padlock certifies RSA up to"
            f" {MAX_RSA_BITS} bits.",
            hint="RSA 4096 is already more than enough; ECDSA P-384 is stronger and faster.",
        )
    # An even modulus is no RSA modulus: 2 divides it, the key is corrupt.
    if n % 2 == 0:
        raise WeakKey(
            "The RSA modulus is even, so it is not the product of two large primes:"
            " the key is corrupt and anyone can factor it.",
            hint=_NEW_KEY_HINT,
        )
    # BR 6.1.6: "The value of the public exponent MUST be an odd number equal to 3
    # or more. Additionally, the public exponent SHOULD be in the range between
    # 2^16 + 1 and 2^256 - 1." padlock enforces the SHOULD as well.
    if e % 2 == 0 or e < 3:
        raise WeakKey(
            f"The RSA public exponent {_short(e)} is invalid: the Baseline Requirements"
            " (6.1.6) want an odd number of at least 3, and no RSA key can have an even one.",
            hint=_NEW_KEY_HINT,
        )
    if e < MIN_RSA_EXPONENT:
        raise WeakKey(
            f"The RSA public exponent {e} is refused: padlock wants at least 65537"
            " (the range BR 6.1.6 recommends); small exponents like 3 make padding mistakes"
            " fatal.",
            hint="Every current tool uses 65537. " + _NEW_KEY_HINT,
        )
    if e > MAX_RSA_EXPONENT:
        raise UnsupportedKey(
            f"The RSA public exponent has {e.bit_length()} bits; padlock accepts at most"
            " 2^256 - 1 (BR 6.1.6), and exponents this large often hide a small, guessable"
            " private exponent.",
            hint="Every current tool uses 65537. " + _NEW_KEY_HINT,
        )


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 20 else f"of {value.bit_length()} bits"


def _check_curve(curve: ec.EllipticCurve) -> None:
    # BR 6.1.5: ECDSA keys on NIST P-256, P-384 or P-521, nothing else.
    if curve.name in ALLOWED_CURVES:
        return
    label = {
        "secp224r1": "P-224",
        "secp192r1": "P-192",
        "secp256k1": "secp256k1 (the Bitcoin curve)",
    }.get(curve.name, curve.name)
    raise UnsupportedKey(
        f"ECDSA keys on {label} cannot be certified: the Baseline Requirements (6.1.5)"
        " allow only P-256, P-384 and P-521, and browsers accept no other curve.",
        hint=_NEW_KEY_HINT,
    )


_OTHER_KINDS: tuple[tuple[type, str], ...] = (
    (dsa.DSAPublicKey, "DSA"),
    (x25519.X25519PublicKey, "X25519"),
    (x448.X448PublicKey, "X448"),
)


def _refuse_kind(public_key: object) -> None:
    # BR 6.1.5 names RSA and ECDSA only: no EdDSA, no DSA, no key-agreement keys.
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        kind = "Ed25519" if isinstance(public_key, ed25519.Ed25519PublicKey) else "Ed448"
        raise UnsupportedKey(
            f"{kind} keys cannot be certified for web servers: the Baseline Requirements"
            " (6.1.5) allow only RSA and ECDSA (P-256, P-384, P-521), and browsers do not"
            f" accept {kind} certificates. {kind} is fine for SSH, not for TLS certificates.",
            hint=_NEW_KEY_HINT,
        )
    name = next(
        (label for cls, label in _OTHER_KINDS if isinstance(public_key, cls)),
        type(public_key).__name__,
    )
    raise UnsupportedKey(
        f"{name} keys cannot be certified: the Baseline Requirements (6.1.5) allow only"
        " RSA and ECDSA (P-256, P-384, P-521).",
        hint=_NEW_KEY_HINT,
    )


def _check_with_badkeys(n: int, e: int) -> None:
    """badkeys' offline RSA checks (about half a millisecond for RSA-2048, after warm-up)."""
    try:
        results: dict[str, Any] = badkeys.checkrsa(n, e=e, checks=_BADKEYS_RSA_CHECKS)
    except (Exception, SystemExit) as exc:
        # badkeys reports missing data with sys.exit(); never let it end the process,
        # and never certify a key the checks could not clear.
        raise PadlockError(
            f"The weak-key checks (badkeys) failed to run ({type(exc).__name__}: {exc});"
            " the key was not accepted.",
            hint="Check the badkeys installation (pip show badkeys).",
        ) from None
    if not results:
        return
    check = next(iter(results))
    reason = _BADKEYS_REASONS.get(check, f"badkeys' check {check!r} flags it")
    raise WeakKey(
        f"This RSA key is broken: {reason}. Its private key is, or can be, known to others"
        f" (BR 6.1.1.3; badkeys check {check!r}).",
        hint="Do not use this key anywhere; find and fix what made it (update the device"
        " or software). " + _NEW_KEY_HINT,
    )


# --- CSRs ---------------------------------------------------------------------------------


def public_key_from_csr(csr: x509.CertificateSigningRequest) -> PublicKeyTypes:
    """The CSR's public key, refusals translated: ``cryptography`` will not build some keys.

    An RSA key with an even exponent, or one below 3, is refused by ``cryptography``
    when it is read (``ValueError``); that is a :class:`WeakKey` here, with the reason.
    """
    try:
        return csr.public_key()
    except UnsupportedAlgorithm as exc:
        raise UnsupportedKey(
            f"The CSR's public key is of a kind padlock cannot use ({exc}).",
            hint=_NEW_KEY_HINT,
        ) from None
    except ValueError as exc:
        text = str(exc)
        if text.startswith("e must"):
            raise WeakKey(
                f"The CSR's RSA public exponent is invalid ({text}): the Baseline"
                " Requirements (6.1.6) want an odd number of at least 3; no RSA key can have"
                " an even one.",
                hint=_NEW_KEY_HINT,
            ) from None
        raise BadCSR(
            f"The CSR's public key cannot be read ({text}).",
            hint="Make the CSR again from the private key: padlock csr new --key KEY --out FILE",
        ) from None


def check_csr_proof_of_possession(
    csr: x509.CertificateSigningRequest, public_key: PublicKeyTypes | None = None
) -> None:
    """Refuse a CSR whose self-signature does not verify with the key it carries.

    The signature proves that whoever made the CSR holds the private key (RFC 2986
    section 3; BR 3.2.1). Check the key itself first (:func:`public_key_from_csr`,
    :func:`check_public_key`), so that a bad key is reported as such; pass that key
    here, and it is not read from the CSR a second time.
    """
    try:
        valid = _signature_valid(csr, public_key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadCSR(
            f"The CSR's signature cannot be checked ({exc}).",
            hint="Make the CSR again from the private key: padlock csr new --key KEY --out FILE",
        ) from None
    if not valid:
        raise BadCSR(
            "The CSR's signature does not verify: it was not signed by the key it carries,"
            " so it proves no possession of that key (RFC 2986 section 3).",
            hint="Make the CSR again from the private key: padlock csr new --key KEY --out FILE",
        )


_ECDSA_PARAMETERS: Mapping[x509.ObjectIdentifier, ec.ECDSA] = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: ec.ECDSA(hashes.SHA256()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: ec.ECDSA(hashes.SHA384()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: ec.ECDSA(hashes.SHA512()),
}


def _signature_valid(
    csr: x509.CertificateSigningRequest, public_key: PublicKeyTypes | None
) -> bool:
    """``csr.is_signature_valid``, with the CSR's key already in hand for the usual cases
    (ECDSA; RSA with PKCS #1 v1.5): that property reads the key from the CSR again."""
    if public_key is None:
        return csr.is_signature_valid
    # The usual ECDSA algorithms' parameters, made once: the property makes them anew.
    params: padding.PSS | padding.PKCS1v15 | ec.ECDSA | None = _ECDSA_PARAMETERS.get(
        csr.signature_algorithm_oid
    )
    if params is None:
        params = csr.signature_algorithm_parameters
    try:
        if is_ec_key(public_key) and isinstance(params, ec.ECDSA):
            public_key.verify(csr.signature, csr.tbs_certrequest_bytes, params)
            return True
        digest = csr.signature_hash_algorithm
        if (
            isinstance(public_key, rsa.RSAPublicKey)
            and isinstance(params, padding.PKCS1v15)
            and digest is not None
        ):
            public_key.verify(csr.signature, csr.tbs_certrequest_bytes, params, digest)
            return True
    except InvalidSignature:
        return False
    # Everything else (RSA-PSS, EdDSA, a signature algorithm of another kind of key):
    # as cryptography itself decides it.
    return csr.is_signature_valid
