"""The only module that ever holds a CA private key.

Everything else holds a :class:`Signer`, which signs what it is given and never
hands its key out (compare step-ca's ``cas/apiv1`` signer interface). CA keys
are written encrypted (scrypt PKCS#8) and the trusted root's key is written
apart, in ``offline/``, so it can be taken off the machine: issuing never needs it.
A CA made in a PKCS#11 token (``ca init --pkcs11-module``) keeps no key at all: its
``Signer`` holds a handle to a key in the token (``ca/signer_pkcs11.py``), which signs there.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp

from padlock.ca import revocation_settings
from padlock.ca.revocation_settings import RevocationChoice
from padlock.config import pki_base_url_for
from padlock.errors import ConfigError, OutputExists, UnrecognizedFile
from padlock.fileio import read_bytes, write_atomic
from padlock.filelock import held
from padlock.pki import crl_ocsp, der, keys, names, resign
from padlock.pki.certs import (
    CAUrls,
    assemble_certificate,
    ca_name,
    intermediate_builder,
    new_serial,
    root_builder,
    tbs_subject,
)
from padlock.pki.profiles import Hierarchy

if TYPE_CHECKING:
    from padlock.ca.signer_pkcs11 import Token, TokenConfig, TokenKey

    CaKey = keys.SigningKey | TokenKey
    """A CA key: an object of ``cryptography``'s, or a handle to a key in a token."""
    Digest = hashes.SHA256 | hashes.SHA384 | None

# The keys ``cryptography`` holds itself; any other CA key is a signer_pkcs11.TokenKey.
_FILE_KEYS = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)

ROOT_DAYS = 20 * 365  # BR 6.3.2 allows roots up to 25 years
INTERMEDIATE_DAYS = 5 * 365


def issuer_id(hierarchy: Hierarchy | str, role: str) -> str:
    return f"{Hierarchy(hierarchy).value}-{role}"


# --- issuing CAs by generation ----------------------------------------------------------------
# ``ca init`` makes generation 1 of each hierarchy's issuing CA (``trusted-issuing``, files
# issuing.crt/.key, ocsp.crt/.key); ``ca new-issuer`` makes the next one under the same root
# (``trusted-issuing-2``, files issuing-2.crt/.key, ocsp-2.crt/.key). The newest generation
# issues; the older ones only sign CRLs and OCSP answers for what they issued.

_ISSUING = re.compile(r"(test|trusted)-issuing(?:-([1-9][0-9]{0,5}))?")


def issuing_id(hierarchy: Hierarchy | str, generation: int) -> str:
    """The id of a hierarchy's issuing CA of ``generation`` (1: ``ca init``'s)."""
    base = issuer_id(hierarchy, "issuing")
    return base if generation == 1 else f"{base}-{generation}"


def issuing_generation(issuer: str) -> tuple[Hierarchy, int] | None:
    """(hierarchy, generation) of an issuing CA's id; None for a root or another name."""
    found = _ISSUING.fullmatch(issuer)
    if found is None or found.group(2) == "1":
        return None
    return Hierarchy(found.group(1)), int(found.group(2) or 1)


def successor_id(issuer: str) -> str | None:
    """The id the issuing CA after ``issuer`` gets (``ca new-issuer``); None for a root."""
    found = issuing_generation(issuer)
    return None if found is None else issuing_id(found[0], found[1] + 1)


def _suffix(generation: int) -> str:
    return "" if generation == 1 else f"-{generation}"


def issuing_files(ca_dir: Path, hierarchy: Hierarchy, generation: int) -> tuple[Path, Path]:
    """(certificate, key) of a hierarchy's issuing CA of ``generation``."""
    base = ca_dir / hierarchy.value
    return base / f"issuing{_suffix(generation)}.crt", base / f"issuing{_suffix(generation)}.key"


def issuing_generations(ca_dir: Path, hierarchy: Hierarchy) -> list[int]:
    """The generations of issuing CA certificates in a data dir, oldest first."""
    found = []
    for path in (ca_dir / hierarchy.value).glob("issuing*.crt"):
        parsed = issuing_generation(f"{hierarchy.value}-{path.stem}")
        if parsed is not None:
            found.append(parsed[1])
    return sorted(found)


def ca_urls(base_url: str, issuer: str, *, crl_shards: int = 0, ocsp: bool = True) -> CAUrls:
    """Where certificates issued by ``issuer`` point relying parties (AIA, CRL DP, OCSP):
    with ``crl_shards``, each certificate's CRL DP names its shard; without ``ocsp`` no
    responder is named."""
    base = base_url.rstrip("/")
    return CAUrls(
        issuer_cert=f"{base}/ca/{issuer}.der",
        crl=f"{base}/crl/{issuer}.crl",
        # Only the issuing CAs run an OCSP responder: a root's key may be offline, so the
        # status of the intermediates comes from the root's CRL (ARL) alone.
        ocsp=f"{base}/ocsp/{issuer}" if ocsp and issuing_generation(issuer) is not None else None,
        crl_shards=crl_shards,
    )


def check_pki_base_url(url: str) -> str:
    """``url`` as a PKI base URL, or ConfigError: relying parties fetch AIA, CRL DP and OCSP
    over plain http (BR 7.1.2.7.7 and 7.1.2.11.2 forbid other schemes; a TLS fetch to check
    revocation could need the very status it is fetching)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"The PKI base URL {url!r} is not a plain http:// URL with a host.",
            hint="Certificates point relying parties at http:// only, for example"
            " http://ca.example.net (padlock serve --tls answers those paths on --pki-port).",
        )
    return url.strip().rstrip("/")


def pki_base_url_of(meta: Mapping[str, str]) -> str:
    """The base of the URLs this CA writes into certificates (ca.json's ``pki_base_url``;
    a CA made before it existed used its ``base_url``)."""
    return (meta.get("pki_base_url") or meta.get("base_url") or "").rstrip("/")


def _hash_for(key: CaKey) -> hashes.SHA256 | hashes.SHA384 | None:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return hashes.SHA384() if public.curve.key_size >= 384 else hashes.SHA256()
    if isinstance(public, rsa.RSAPublicKey):
        return hashes.SHA256()
    return None


# What x509.CertificateBuilder.sign writes as signatureAlgorithm for a key and hash.
_SIGNATURE_OIDS: dict[tuple[str, str | None], x509.ObjectIdentifier] = {
    ("ec", "sha256"): x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    ("ec", "sha384"): x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    ("ec", "sha512"): x509.SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    ("rsa", "sha256"): x509.SignatureAlgorithmOID.RSA_WITH_SHA256,
    ("rsa", "sha384"): x509.SignatureAlgorithmOID.RSA_WITH_SHA384,
    ("rsa", "sha512"): x509.SignatureAlgorithmOID.RSA_WITH_SHA512,
    ("ed25519", None): x509.SignatureAlgorithmOID.ED25519,
    ("ed448", None): x509.SignatureAlgorithmOID.ED448,
}


def _algorithm_identifier(key: CaKey, hash_name: str | None) -> bytes:
    """The AlgorithmIdentifier DER that ``x509.CertificateBuilder.sign`` writes for this key
    and hash: no parameters for ECDSA (RFC 5758 3.2) and EdDSA (RFC 8410 3), NULL for RSA
    PKCS #1 v1.5 (RFC 4055 5)."""
    algorithm_oid = _SIGNATURE_OIDS.get((_family(key), hash_name))
    if algorithm_oid is None:  # pragma: no cover - no other CA key can be loaded
        raise ValueError(f"padlock cannot sign with a {type(key).__name__}")
    params = der.NULL if _family(key) == "rsa" else b""
    return der.sequence(der.oid(algorithm_oid.dotted_string), params)


def _signing(key: CaKey, digest: hashes.HashAlgorithm | None) -> Callable[[bytes], bytes]:
    """A function that signs bytes with ``key`` as certificates want it, decided once."""
    if not isinstance(key, _FILE_KEYS) and digest is not None:
        return functools.partial(cast("TokenKey", key).sign, digest=digest)  # in its token
    if isinstance(key, ec.EllipticCurvePrivateKey) and digest is not None:
        return functools.partial(key.sign, signature_algorithm=ec.ECDSA(digest))
    if isinstance(key, rsa.RSAPrivateKey) and digest is not None:
        return functools.partial(key.sign, padding=padding.PKCS1v15(), algorithm=digest)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.sign  # the hash is part of the algorithm
    raise ValueError(f"cannot sign with a {type(key).__name__}")  # pragma: no cover


def _family(key: CaKey) -> str:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(public, rsa.RSAPublicKey):
        return "rsa"
    return type(public).__name__.removesuffix("PublicKey").lower()


_throwaway_lock = threading.Lock()
_throwaway: dict[str, keys.SigningKey] = {}


def _throwaway_like(key: CaKey) -> keys.SigningKey:
    """A process-wide throwaway key of the same algorithm, for rehearsal signatures (and for
    the builders' first signature of what a key in a token signs)."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        label = "ec-" + public.curve.name
    elif isinstance(public, rsa.RSAPublicKey):
        label = f"rsa-{public.key_size}"
    else:
        label = type(public).__name__
    with _throwaway_lock:
        found = _throwaway.get(label)
        if found is None:
            if isinstance(public, ec.EllipticCurvePublicKey):
                found = ec.generate_private_key(public.curve)
            elif isinstance(public, rsa.RSAPublicKey):
                found = rsa.generate_private_key(65537, public.key_size)
            else:
                found = keys.generate_key(keys.KeyType.ED25519)
            _throwaway[label] = found
        return found


def _signed_der(
    builder: x509.CertificateBuilder | x509.CertificateRevocationListBuilder,
    key: CaKey,
    digest: Digest,
) -> bytes:
    """The DER of ``builder`` signed by ``key``: by ``cryptography`` for a key it holds; for a
    key in a token, the builder's to-be-signed part (signed by a throwaway key of the same
    kind, so it names the same algorithm) signed in the token, the signature put in place
    (``pki/resign.py``)."""
    file_key = isinstance(key, _FILE_KEYS)
    first = builder.sign(key if file_key else _throwaway_like(key), digest)  # type: ignore[arg-type]
    signed = first.public_bytes(serialization.Encoding.DER)
    if file_key:
        return signed
    if isinstance(first, x509.Certificate):
        return resign.with_signature(signed, _signing(key, digest)(first.tbs_certificate_bytes))
    return resign.with_signature(signed, _signing(key, digest)(first.tbs_certlist_bytes))


def _signed_certificate(
    builder: x509.CertificateBuilder, key: CaKey, digest: Digest
) -> x509.Certificate:
    if isinstance(key, _FILE_KEYS):
        return builder.sign(key, digest)
    return x509.load_der_x509_certificate(_signed_der(builder, key, digest))


def _stand_in(certificate: x509.Certificate, key: CaKey) -> x509.Certificate:
    """A certificate like ``certificate`` (an OCSP responder's) for a throwaway key of its
    kind: ``cryptography`` builds a response only for a responder whose key it holds."""
    throwaway = _throwaway_like(key)
    return (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(certificate.subject)
        .public_key(throwaway.public_key())
        .serial_number(certificate.serial_number)
        .not_valid_before(certificate.not_valid_before_utc)
        .not_valid_after(certificate.not_valid_after_utc)
        .sign(throwaway, _hash_for(key))
    )


def _signed_ocsp(
    builder: ocsp.OCSPResponseBuilder,
    key: CaKey,
    digest: Digest,
    certificate: x509.Certificate,
) -> bytes:
    """The DER of an OCSP response signed by ``key``: for a key in a token, the response the
    builder made for the stand-in responder, made ``certificate``'s and signed in the token
    (``pki/resign.py``)."""
    if isinstance(key, _FILE_KEYS):
        return builder.sign(key, digest).public_bytes(serialization.Encoding.DER)
    first = builder.sign(_throwaway_like(key), digest).public_bytes(serialization.Encoding.DER)
    key_hash = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    return resign.ocsp_as_responder(first, key_hash, cert_der, _signing(key, digest))


class Signer:
    """One CA: its certificate, its chain up to the root, and (privately) its key."""

    def __init__(
        self,
        issuer: str,
        certificate: x509.Certificate,
        key: CaKey,
        chain: tuple[x509.Certificate, ...],
    ) -> None:
        self.issuer = issuer
        self.certificate = certificate
        self.chain = chain  # the certificates above this one, nearest first, ending at the root
        self.__key = key
        self.__hash = _hash_for(key)
        self.__hash_name = self.__hash.name if self.__hash is not None else None
        self.__subject_der = tbs_subject(certificate.tbs_certificate_bytes)
        self.__algorithm = _algorithm_identifier(key, self.__hash_name)
        self.__sign = _signing(key, self.__hash)
        self.__rehearsal_sign: Callable[[bytes], bytes] | None = None

    def __repr__(self) -> str:
        return f"Signer({self.issuer!r}, {self.certificate.subject.rfc4514_string()!r})"

    def __getstate__(self) -> None:
        raise TypeError("a Signer cannot be pickled: it holds a CA key")

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return _signed_certificate(builder, self.__key, self.__hash)

    @property
    def signature_algorithm(self) -> bytes:
        """The DER AlgorithmIdentifier of this CA's signatures, as a certificate carries it
        twice (RFC 5280 4.1.1.2 and 4.1.2.3)."""
        return self.__algorithm

    def rehearse(self, tbs: bytes) -> bytes:
        """``tbs`` signed by a throwaway key of this CA's kind: a certificate to lint, with
        exactly the fields this CA would sign. Nobody can mistake it for the CA's own."""
        self._check_tbs(tbs)
        if self.__rehearsal_sign is None:
            self.__rehearsal_sign = _signing(_throwaway_like(self.__key), self.__hash)
        return assemble_certificate(tbs, self.__algorithm, self.__rehearsal_sign(tbs))

    def sign_tbs(self, tbs: bytes) -> bytes:
        """The DER certificate of ``tbs`` (a tbsCertificate this CA issues: its issuer is
        this CA's subject and its signature algorithm this CA's, byte for byte), signed."""
        self._check_tbs(tbs)
        signed = assemble_certificate(tbs, self.__algorithm, self.__sign(tbs))
        x509.load_der_x509_certificate(signed)  # well-formed, or ValueError here
        return signed

    def _check_tbs(self, tbs: bytes) -> None:
        # tbsCertificate (RFC 5280 4.1): [0] version, serialNumber, signature, issuer,
        # validity, subject, subjectPublicKeyInfo, ... Walked in place, not split.
        at, end = der.element(tbs, 0)
        if at < end and tbs[at] == 0xA0:
            at = der.element(tbs, at)[1]
        if at >= end:
            raise ValueError("the to-be-signed certificate has no serial number")
        at = der.element(tbs, at)[1]
        algorithm, issuer = self.__algorithm, self.__subject_der
        # A DER element is its own length: equal bytes here are an equal element.
        if tbs[at : at + len(algorithm)] != algorithm:
            raise ValueError("the to-be-signed certificate names another signature algorithm")
        at += len(algorithm)
        # Its issuer is this CA's subject, byte for byte (cheaper than comparing Names).
        if tbs[at : at + len(issuer)] != issuer:
            raise ValueError(f"the to-be-signed certificate is not one {self.issuer} issues")
        at += len(issuer)
        for _field in ("validity", "subject", "subjectPublicKeyInfo"):
            if at >= end:
                raise ValueError(f"the to-be-signed certificate has no {_field}")
            at = der.element(tbs, at)[1]
        if at > end:
            raise ValueError("the to-be-signed certificate runs past its end")

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        return x509.load_der_x509_crl(_signed_der(builder, self.__key, self.__hash))

    def sign_tbs_crl(self, tbs: bytes) -> bytes:
        """The DER CRL of ``tbs`` (a TBSCertList of this CA: v2, its signature algorithm and
        its subject as issuer, byte for byte; RFC 5280 5.1), signed."""
        at, _end = der.element(tbs, 0)
        version = b"\x02\x01\x01"
        if tbs[at : at + len(version)] != version:
            raise ValueError("the to-be-signed CRL is not a v2 TBSCertList")
        at += len(version)
        algorithm, issuer = self.__algorithm, self.__subject_der
        if tbs[at : at + len(algorithm) + len(issuer)] != algorithm + issuer:
            raise ValueError(f"the to-be-signed CRL is not one {self.issuer} signs")
        return assemble_certificate(tbs, self.__algorithm, self.__sign(tbs))

    def public_key_matches(self) -> bool:
        return keys.fingerprint(self.__key.public_key()) == keys.fingerprint(
            self.certificate.public_key()
        )


@dataclass(frozen=True)
class HierarchyFiles:
    root_cert: Path
    root_key: Path
    issuing_cert: Path
    issuing_key: Path


def hierarchy_files(ca_dir: Path, hierarchy: Hierarchy, offline_dir: Path) -> HierarchyFiles:
    base = ca_dir / hierarchy.value
    root_key = (
        offline_dir / "trusted-root.key" if hierarchy is Hierarchy.TRUSTED else base / "root.key"
    )
    return HierarchyFiles(base / "root.crt", root_key, base / "issuing.crt", base / "issuing.key")


def offline_dir_for(ca_dir: Path) -> Path:
    return ca_dir.parent / "offline"


@dataclass(frozen=True)
class AuthorityInfo:
    """What ``ca init`` made, for the CLI to report."""

    name: str
    base_url: str
    pki_base_url: str
    roots: dict[str, Path]
    offline_root_key: Path | None  # None: the trusted root's key is in the token
    created_at: dt.datetime
    token_label: str | None = None


def _key_kind(text: str) -> keys.KeyType:
    return keys.parse_key_type(text)


def _new_key(token: Token | None, kind: keys.KeyType, label: str) -> CaKey:
    """A new CA key: in the token when the CA has one (never extractable), else in memory
    until it is written encrypted."""
    return keys.generate_key(kind) if token is None else token.generate(kind, label)


def _write_key(path: Path, key: CaKey, passphrase: bytes) -> None:
    """A key's encrypted file (0600); a key in a token has none."""
    if isinstance(key, _FILE_KEYS):
        write_atomic(path, keys.private_key_pem(key, passphrase), mode=0o600, overwrite=True)


@dataclass(frozen=True)
class _Making:
    """What every hierarchy of a new CA shares."""

    name: str
    country: str | None
    pki_base_url: str
    not_before: dt.datetime
    root_kind: keys.KeyType
    issuing_kind: keys.KeyType
    passphrase: bytes
    token: Token | None
    step: Callable[[str], None]  # told before each step (padlock ca ceremony asks and records)

    def where(self, key_file: Path) -> str:
        if self.token is None:
            return f"encrypted with the CA pass phrase, to {key_file}"
        return f"inside the token {self.token.config.token_label!r}, not extractable"


def _make_hierarchy(files: HierarchyFiles, hierarchy: Hierarchy, m: _Making) -> None:
    """One hierarchy's root (self-signed) and issuing CA (signed by the root), written."""
    files.root_cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if m.token is None:
        files.root_key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    label = "Test" if hierarchy is Hierarchy.TEST else "Trusted"
    root_id, issuing_id = issuer_id(hierarchy, "root"), issuer_id(hierarchy, "issuing")
    m.step(f"make the {root_id} key ({m.root_kind.value}) {m.where(files.root_key)}")
    root_key = _new_key(m.token, m.root_kind, f"padlock {root_id}")
    root_subject = ca_name(f"{m.name} {label} Root CA", m.name, m.country)
    m.step(f"self-sign the {root_id} certificate ({ROOT_DAYS} days), to {files.root_cert}")
    root = _signed_certificate(
        root_builder(root_subject, root_key.public_key(), m.not_before, ROOT_DAYS),
        root_key,
        _hash_for(root_key),
    )
    m.step(f"make the {issuing_id} key ({m.issuing_kind.value}) {m.where(files.issuing_key)}")
    issuing_key = _new_key(m.token, m.issuing_kind, f"padlock {issuing_id}")
    m.step(f"sign the {issuing_id} certificate with the {root_id} key, to {files.issuing_cert}")
    issuing_subject = ca_name(f"{m.name} {label} Issuing CA 1", m.name, m.country)
    urls = ca_urls(m.pki_base_url, issuer_id(hierarchy, "root"))
    issuing = _signed_certificate(
        intermediate_builder(
            issuing_subject, issuing_key.public_key(), root, m.not_before, INTERMEDIATE_DAYS, urls
        ),
        root_key,
        _hash_for(root_key),
    )
    pem = serialization.Encoding.PEM
    _write_key(files.root_key, root_key, m.passphrase)
    write_atomic(files.root_cert, root.public_bytes(pem))
    _write_key(files.issuing_key, issuing_key, m.passphrase)
    write_atomic(files.issuing_cert, issuing.public_bytes(pem))


def create_authority(
    ca_dir: Path,
    *,
    name: str,
    passphrase: bytes,
    now: dt.datetime,
    base_url: str,
    pki_base_url: str | None = None,
    country: str | None = None,
    root_key_type: str = "ec-p384",
    issuing_key_type: str = "ec-p256",
    revocation: Mapping[Hierarchy, RevocationChoice] | None = None,
    token: TokenConfig | None = None,
    step: Callable[[str], None] | None = None,
) -> AuthorityInfo:
    """Make the test and trusted hierarchies (root + issuing intermediate each), in one step.

    ``pki_base_url`` (plain http) goes into the issuing CAs' AIA and CRL DP and, through
    ca.json, into every certificate they issue; ``country`` into every CA subject
    (BR 7.1.2.10.2; without it, XX says that none was stated); ``revocation`` each issuing
    CA's CRL shards and OCSP (``revocation_settings.for_new_ca`` for one not given). With
    ``token`` every key is made inside that PKCS#11 token and ``passphrase`` is its PIN; no
    key file is written."""
    meta = ca_dir / "ca.json"
    pki_base_url = check_pki_base_url(pki_base_url or pki_base_url_for(base_url))
    country = names.normalize_country(country) if country else None
    if meta.exists():
        raise OutputExists(
            f"A CA exists already in {ca_dir}.",
            hint="Use another --data-dir, or remove that directory to start afresh.",
        )
    if token is None:
        keys.check_passphrase_strength(passphrase)
    making = _Making(
        name,
        country,
        pki_base_url,
        now.replace(microsecond=0) - dt.timedelta(minutes=1),
        _key_kind(root_key_type),
        _key_kind(issuing_key_type),
        passphrase,
        _open_token(token, passphrase),
        step or (lambda _text: None),
    )
    offline = offline_dir_for(ca_dir)
    roots: dict[str, Path] = {}
    for hierarchy in Hierarchy:
        files = hierarchy_files(ca_dir, hierarchy, offline)
        _make_hierarchy(files, hierarchy, making)
        roots[hierarchy.value] = files.root_cert
    if token is None:
        _write_offline_readme(offline / "README.txt")
    written: dict[str, Any] = {
        "name": name,
        "base_url": base_url,
        "pki_base_url": pki_base_url,
        "created_at": now.isoformat(),
        "revocation": {
            issuer_id(h, "issuing"): (
                (revocation or {}).get(h) or revocation_settings.for_new_ca(h)
            ).as_json()
            for h in Hierarchy
        },
    }
    if token is not None:
        written["pkcs11"] = token.as_meta()
    write_atomic(meta, json.dumps(written, indent=2).encode())
    making.step("make each issuing CA's OCSP responder (its key beside the issuing key's)")
    ensure_ocsp_signers(ca_dir, passphrase, now)
    trusted_root_key = hierarchy_files(ca_dir, Hierarchy.TRUSTED, offline).root_key
    return AuthorityInfo(
        name,
        base_url,
        pki_base_url,
        roots,
        None if token else trusted_root_key,
        now,
        token.token_label if token else None,
    )


def _write_offline_readme(readme: Path) -> None:
    if not readme.exists():
        write_atomic(
            readme,
            b"trusted-root.key is the trusted root's private key. padlock does not need it to\n"
            b"issue certificates. Copy it to offline storage (two copies), then delete it here.\n"
            b"You need it again only to make a new issuing CA or sign the root's CRL.\n",
        )


def _open_token(config: TokenConfig | None, pin: bytes) -> Token | None:
    if config is None:
        return None
    from padlock.ca import signer_pkcs11  # the optional binding, only for a CA in a token

    return signer_pkcs11.open_token(config, pin)


def token_config(ca_dir: Path) -> TokenConfig | None:
    """The token a data dir's CA keeps its keys in (ca.json's ``pkcs11``); None: files."""
    path = ca_dir / "ca.json"
    if not path.exists():
        return None
    found = json.loads(read_bytes(path, "CA metadata")).get("pkcs11")
    if not isinstance(found, dict):
        return None
    from padlock.ca.signer_pkcs11 import TokenConfig

    return TokenConfig.from_meta({"pkcs11": found})


def _ca_token(ca_dir: Path, secret: bytes) -> Token | None:
    """The logged-in token of a data dir's CA, or None for a CA in files."""
    return _open_token(token_config(ca_dir), secret)


def _ca_key(ca_dir: Path, path: Path, cert: x509.Certificate, secret: bytes, what: str) -> CaKey:
    """The key of a CA certificate: in its token (by the certificate's public key), or the
    encrypted file ``path``. A wrong pass phrase or PIN fails here."""
    token = _ca_token(ca_dir, secret)
    if token is not None:
        return token.key_for(cert.public_key(), f"{cert.subject.rfc4514_string()}")
    key = keys.load_private_key(read_bytes(path, what), secret, f"The {what} {path}")
    return key  # type: ignore[return-value]


def read_meta(ca_dir: Path) -> dict[str, str]:
    meta = ca_dir / "ca.json"
    if not meta.exists():
        raise ConfigError(
            f"There is no CA in {ca_dir.parent}.",
            hint="Make one with: padlock ca init --data-dir " + str(ca_dir.parent),
        )
    data: dict[str, str] = json.loads(read_bytes(meta, "CA metadata"))
    return data


def set_pki_base_url(ca_dir: Path, url: str) -> tuple[str, str]:
    """Point the certificates this CA issues from now on at ``url``; (old, new).

    Repairs a CA made with an https base URL without a new ``ca init``: leaf certificates
    get the new URLs at once. The issuing CAs' own certificates keep what the root signed.
    """
    new = check_pki_base_url(url)
    meta = read_meta(ca_dir)
    old = pki_base_url_of(meta)
    meta["pki_base_url"] = new
    write_atomic(ca_dir / "ca.json", json.dumps(meta, indent=2).encode(), overwrite=True)
    return old, new


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(read_bytes(path, "CA certificate"))


def load_root(ca_dir: Path, hierarchy: Hierarchy) -> x509.Certificate:
    return _load_cert(hierarchy_files(ca_dir, hierarchy, offline_dir_for(ca_dir)).root_cert)


def load_issuing_signers(ca_dir: Path, passphrase: bytes) -> dict[Hierarchy, Signer]:
    """The issuing CA of each hierarchy that issues now, ready to sign. A wrong pass phrase
    fails here."""
    return dict(load_issuing_cas(ca_dir, passphrase).current)


@dataclass(frozen=True)
class IssuingCas:
    """Every issuing CA of a data dir: ``current`` issues, one per hierarchy (the newest
    generation); ``every`` (oldest first) adds those that only answer for what they issued
    (CRLs, OCSP, their chain)."""

    current: Mapping[Hierarchy, Signer]
    every: tuple[Signer, ...]

    def get(self, issuer: str) -> Signer | None:
        return next((s for s in self.every if s.issuer == issuer), None)


def _load_issuing(ca_dir: Path, hierarchy: Hierarchy, generation: int, passphrase: bytes) -> Signer:
    cert_path, key_path = issuing_files(ca_dir, hierarchy, generation)
    root = _load_cert(hierarchy_files(ca_dir, hierarchy, offline_dir_for(ca_dir)).root_cert)
    cert = _load_cert(cert_path)
    key = _ca_key(ca_dir, key_path, cert, passphrase, "CA key")
    signer = Signer(issuing_id(hierarchy, generation), cert, key, (root,))
    if not signer.public_key_matches():
        raise ConfigError(f"The key in {key_path} does not match {cert_path}.")
    return signer


def load_issuing_cas(ca_dir: Path, passphrase: bytes) -> IssuingCas:
    """Every issuing CA in the data dir, ready to sign. A wrong pass phrase fails here."""
    read_meta(ca_dir)
    current: dict[Hierarchy, Signer] = {}
    every: list[Signer] = []
    for hierarchy in Hierarchy:
        generations = issuing_generations(ca_dir, hierarchy) or [1]  # none: say which file
        for generation in generations:
            every.append(_load_issuing(ca_dir, hierarchy, generation, passphrase))
        current[hierarchy] = every[-1]
    return IssuingCas(current, tuple(every))


def new_issuing_ca(
    ca_dir: Path,
    hierarchy: Hierarchy,
    root: Signer,
    passphrase: bytes,
    now: dt.datetime,
    key_type: keys.KeyType | None = None,
) -> Signer:
    """Make the next generation of ``hierarchy``'s issuing CA, signed by ``root`` (the same
    root, BR 7.1.2.10), with a new key of the current one's type, its subject the current
    one's with the generation in its commonName; written beside the others (key first)."""
    generation = (issuing_generations(ca_dir, hierarchy) or [1])[-1] + 1
    cert_path, key_path = issuing_files(ca_dir, hierarchy, generation)
    for path in (cert_path, key_path):
        if path.exists():  # a key without its certificate: a run cut short
            raise OutputExists(f"{path} exists already.", hint="Remove a half-made one first.")
    current = _load_cert(issuing_files(ca_dir, hierarchy, generation - 1)[0])
    kind = key_type or _kind_of(current.public_key())
    token = _ca_token(ca_dir, passphrase)  # a CA in a token makes its new key there
    key = _new_key(token, kind, f"padlock {issuing_id(hierarchy, generation)}")
    common_name = current.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    base_name = re.sub(r" [0-9]+$", "", str(common_name))
    organization = current.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    country = current.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    subject = ca_name(
        f"{base_name} {generation}", str(organization[0].value), str(country[0].value)
    )
    not_before = now.replace(microsecond=0) - dt.timedelta(minutes=1)
    # never past the root's own end (RFC 5280 6.1.3: a chain is valid only while all are)
    left = (root.certificate.not_valid_after_utc - not_before).days
    days = min(INTERMEDIATE_DAYS, left)
    urls = ca_urls(pki_base_url_of(read_meta(ca_dir)), root.issuer)
    cert = root.sign_certificate(
        intermediate_builder(subject, key.public_key(), root.certificate, not_before, days, urls)
    )
    _write_key(key_path, key, passphrase)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Signer(issuing_id(hierarchy, generation), cert, key, (root.certificate,))


def _kind_of(public: object) -> keys.KeyType:
    """The key type of a CA's public key, for its successor's key."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        return keys.parse_key_type(f"ec-p{public.curve.key_size}")
    if isinstance(public, rsa.RSAPublicKey):
        return keys.parse_key_type(f"rsa-{public.key_size}")
    return keys.KeyType.ED25519


def remove_issuing_ca(ca_dir: Path, issuer: str) -> None:
    """Take back what :func:`new_issuing_ca` wrote (the database refused to record it)."""
    found = issuing_generation(issuer)
    if found is None:
        return
    for path in (*issuing_files(ca_dir, *found), *ocsp_files(ca_dir, issuer)):
        path.unlink(missing_ok=True)


# --- revocation: CRL signing by the roots, delegated OCSP responders -------------------------


def load_root_signer(
    ca_dir: Path, hierarchy: Hierarchy, passphrase: bytes, key_path: Path | None = None
) -> Signer:
    """A root as a Signer, for its CRL (ARL). The test root's key is online in the data dir;
    the trusted root's key is offline and given by the operator (``key_path``)."""
    read_meta(ca_dir)
    files = hierarchy_files(ca_dir, hierarchy, offline_dir_for(ca_dir))
    root = _load_cert(files.root_cert)
    path = key_path or files.root_key
    key = _ca_key(ca_dir, path, root, passphrase, "root key")
    signer = Signer(issuer_id(hierarchy, "root"), root, key, (root,))
    if not signer.public_key_matches():
        raise ConfigError(
            f"The key in {path} is not the {hierarchy.value} root's key.",
            hint=f"Give the key of {files.root_cert}.",
        )
    return signer


class OcspSigner:
    """The delegated OCSP responder of one issuing CA (RFC 6960 4.2.2.2): its certificate,
    the issuing CA's certificate, and (privately) its key."""

    def __init__(
        self,
        issuer: str,
        issuer_certificate: x509.Certificate,
        certificate: x509.Certificate,
        key: CaKey,
    ) -> None:
        self.issuer = issuer
        self.issuer_certificate = issuer_certificate
        self.certificate = certificate
        self.__key = key
        self.__hash = _hash_for(key)
        # What responses are built for (crl_ocsp.ocsp_response_builder): the responder's own
        # certificate, or for a key in a token a stand-in that sign_response replaces.
        self.builder_certificate = (
            certificate if isinstance(key, _FILE_KEYS) else _stand_in(certificate, key)
        )

    def __repr__(self) -> str:
        return f"OcspSigner({self.issuer!r}, {self.certificate.subject.rfc4514_string()!r})"

    def __getstate__(self) -> None:
        raise TypeError("an OcspSigner cannot be pickled: it holds a key")

    def sign_response(self, builder: ocsp.OCSPResponseBuilder) -> bytes:
        """Sign a response built by :mod:`padlock.pki.crl_ocsp`; its DER."""
        return _signed_ocsp(builder, self.__key, self.__hash, self.certificate)

    def public_key_matches(self) -> bool:
        return keys.fingerprint(self.__key.public_key()) == keys.fingerprint(
            self.certificate.public_key()
        )


def ocsp_files(ca_dir: Path, issuer: Hierarchy | str) -> tuple[Path, Path]:
    """(certificate, key) of an issuing CA's OCSP responder: beside the issuing key. A
    hierarchy names its first issuing CA's."""
    if isinstance(issuer, Hierarchy):
        issuer = issuing_id(issuer, 1)
    found = issuing_generation(issuer)
    if found is None:
        raise ValueError(f"{issuer!r} is not an issuing CA")
    base = ca_dir / found[0].value
    return base / f"ocsp{_suffix(found[1])}.crt", base / f"ocsp{_suffix(found[1])}.key"


def _load_ocsp_signer(
    issuing: Signer,
    cert_path: Path,
    key_path: Path,
    passphrase: bytes,
    now: dt.datetime,
    token: Token | None = None,
) -> OcspSigner | None:
    """The responder on disk (its key there or in ``token``), if it is there, whole, issued
    by ``issuing`` and not due."""
    if not (cert_path.exists() and (token is not None or key_path.exists())):
        return None
    try:
        cert = _load_cert(cert_path)
        key: CaKey = (
            keys.load_private_key(read_bytes(key_path, "OCSP responder key"), passphrase)  # type: ignore[assignment]
            if token is None
            else token.key_for(cert.public_key(), "the OCSP responder")
        )
    except (ValueError, UnrecognizedFile, ConfigError):  # half-written or damaged: make another
        return None
    signer = OcspSigner(issuing.issuer, issuing.certificate, cert, key)
    if (
        not signer.public_key_matches()
        or cert.issuer != issuing.certificate.subject
        or crl_ocsp.responder_needs_renewal(cert, now)
    ):
        return None
    try:
        cert.verify_directly_issued_by(issuing.certificate)
    except (ValueError, TypeError, InvalidSignature):  # another issuing CA of the same name
        return None
    return signer


def ensure_ocsp_signer(
    ca_dir: Path, issuing: Signer, passphrase: bytes, now: dt.datetime
) -> OcspSigner:
    """The issuing CA's responder, made (or renewed) when missing or near its end.

    Made at ``ca init`` (and ``ca new-issuer``) and, for a CA made before responders
    existed, on first use; renewed when fewer than ``OCSP_RESPONDER_RENEW_DAYS`` remain.
    Its key is written beside the issuing key, encrypted with the same pass phrase (for a
    CA in a token, made in the token). A file lock makes sure several workers starting
    together make one responder, not one each.
    """
    cert_path, key_path = ocsp_files(ca_dir, issuing.issuer)
    token = _ca_token(ca_dir, passphrase)
    # several server workers start at once: one makes it, the others wait and load it
    with held(cert_path.with_suffix(".lock"), make_parent=True):
        found = _load_ocsp_signer(issuing, cert_path, key_path, passphrase, now, token)
        if found is not None:
            return found
        serial = new_serial()
        key = _new_key(token, keys.KeyType.EC_P256, f"padlock {issuing.issuer} ocsp {serial:x}")
        builder = crl_ocsp.ocsp_responder_builder(
            issuing.certificate, key.public_key(), serial, now
        )
        cert = issuing.sign_certificate(builder)
        # Key first: a crash between the two writes leaves a pair that does not match,
        # which the next start replaces.
        _write_key(key_path, key, passphrase)
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), overwrite=True)
        return OcspSigner(issuing.issuer, issuing.certificate, cert, key)


def ensure_ocsp_signers(
    ca_dir: Path,
    passphrase: bytes,
    now: dt.datetime,
    issuing: Mapping[Hierarchy, Signer] | None = None,
) -> dict[Hierarchy, OcspSigner]:
    """The responders of the issuing CAs that issue now, one per hierarchy."""
    signers = dict(issuing) if issuing is not None else load_issuing_signers(ca_dir, passphrase)
    return {h: ensure_ocsp_signer(ca_dir, signer, passphrase, now) for h, signer in signers.items()}


def ensure_every_ocsp_signer(
    ca_dir: Path, passphrase: bytes, now: dt.datetime, issuing: Iterable[Signer]
) -> list[OcspSigner]:
    """The responders of every given issuing CA, those that only answer for what they
    issued included (:class:`IssuingCas`'s ``every``)."""
    return [ensure_ocsp_signer(ca_dir, signer, passphrase, now) for signer in issuing]
