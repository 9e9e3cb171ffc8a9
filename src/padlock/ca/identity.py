"""Which CA a host holds, and whether a signature stored in the database is that CA's.

Several hosts may serve one database; each must hold the same CA (the same roots and
issuing CAs). The database records that CA's identity: for each CA certificate, the
SHA-256 of its DER and of its public key (SubjectPublicKeyInfo, as
``openssl pkey -pubout -outform DER | sha256sum``). A host compares its data dir with it
before it signs anything, and ``padlock audit verify`` checks that every stored
certificate, CRL and OCSP response was signed by a key of that identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from padlock.ca import signer as signer_mod
from padlock.ca.ports.identity import CaCertificate, CaIdentity
from padlock.errors import ConfigError
from padlock.fileio import read_bytes
from padlock.pki.profiles import Hierarchy


def local_identity(ca_dir: Path) -> CaIdentity:
    """The identity of the CA in a data dir (its roots and every generation of its issuing
    CAs, no key needed)."""
    signer_mod.read_meta(ca_dir)  # no CA here: ConfigError naming `ca init`
    found = []
    for hierarchy in Hierarchy:
        files = signer_mod.hierarchy_files(ca_dir, hierarchy, signer_mod.offline_dir_for(ca_dir))
        paths = [(signer_mod.issuer_id(hierarchy, "root"), files.root_cert)]
        for generation in signer_mod.issuing_generations(ca_dir, hierarchy) or [1]:
            paths.append(
                (
                    signer_mod.issuing_id(hierarchy, generation),
                    signer_mod.issuing_files(ca_dir, hierarchy, generation)[0],
                )
            )
        for issuer, path in paths:
            cert = x509.load_pem_x509_certificate(read_bytes(path, "CA certificate"))
            found.append(CaCertificate.of(issuer, cert))
    return tuple(sorted(found, key=lambda c: c.issuer))


def current_issuers(identity: CaIdentity) -> dict[Hierarchy, str]:
    """The issuing CA that issues now in each hierarchy of ``identity``: its newest
    generation (``ca new-issuer`` adds the next one; the older ones only answer for what
    they issued)."""
    newest: dict[Hierarchy, int] = {}
    for c in identity:
        found = signer_mod.issuing_generation(c.issuer)
        if found is not None and found[1] > newest.get(found[0], 0):
            newest[found[0]] = found[1]
    return {h: signer_mod.issuing_id(h, g) for h, g in newest.items()}


def added_issuer(recorded: CaIdentity, local: CaIdentity) -> CaCertificate:
    """The one issuing CA ``local`` holds beyond ``recorded`` (``ca new-issuer``), refused
    when the two differ in anything else: a data dir adds to the database's CA, never
    replaces part of it."""
    theirs = {c.issuer for c in recorded}
    extra = [c for c in local if c.issuer not in theirs]
    rest = tuple(c for c in local if c.issuer in theirs)
    other = differences(recorded, rest)
    if len(extra) != 1 or other or signer_mod.issuing_generation(extra[0].issuer) is None:
        raise ConfigError(
            "The data dir's CA differs from the database's by more than one new issuing CA: "
            + "; ".join(other or [c.issuer for c in extra] or ["nothing new"])
            + ".",
            hint="Run padlock ca new-issuer on a host whose data dir holds the database's CA.",
        )
    return extra[0]


def short(identity: CaIdentity) -> str:
    """A line naming the identity: each CA and its key's fingerprint's first 16 digits."""
    return ", ".join(f"{c.issuer} key {c.key_sha256[:16]}" for c in identity)


def differences(recorded: CaIdentity, local: CaIdentity) -> list[str]:
    """What differs between the database's CA and a data dir's (empty: the same CA)."""
    theirs = {c.issuer: c for c in recorded}
    ours = {c.issuer: c for c in local}
    found = []
    for issuer in sorted(theirs.keys() | ours.keys()):
        a, b = theirs.get(issuer), ours.get(issuer)
        if a is None:
            found.append(f"{issuer} is not in the database's identity")
        elif b is None:
            found.append(f"{issuer} is missing from the data dir")
        elif a.key_sha256 != b.key_sha256:
            found.append(
                f"{issuer}: the database's key is {a.key_sha256[:16]}...,"
                f" the data dir's {b.key_sha256[:16]}..."
            )
        elif a.cert_sha256 != b.cert_sha256:
            found.append(f"{issuer}: same key, another certificate ({b.cert_sha256[:16]}...)")
    return found


def refuse_other_ca(recorded: CaIdentity, local: CaIdentity, data_dir: Path) -> None:
    """Raise ConfigError when a data dir holds another CA than the database records."""
    found = differences(recorded, local)
    lacking = [c.issuer for c in recorded if c.issuer not in {m.issuer for m in local}]
    if found and len(lacking) == len(found) and all(map(signer_mod.issuing_generation, lacking)):
        raise ConfigError(
            f"The data dir {data_dir} lacks the issuing CA {', '.join(lacking)} that"
            " padlock ca new-issuer made on another host of this database; this host issues"
            " nothing until it has it.",
            hint="On a host that has it: padlock ca clone-to "
            f"{data_dir} --update (copies only what is missing), or copy its files by hand.",
        )
    if found:
        raise ConfigError(
            f"The data dir {data_dir} holds another CA than the one this database belongs to: "
            + "; ".join(found)
            + ".",
            hint="Every host of one database needs a copy of the first host's CA: prepare this"
            " one with `padlock ca clone-to DIR` on a host that has it (see docs/ca-operations.md,"
            ' "A second host"), or point PADLOCK_DATABASE_URL at this CA\'s own database.',
        )


def missing_ca(data_dir: Path, recorded: CaIdentity) -> ConfigError:
    """The error for a host with no CA starting on a database that has one."""
    return ConfigError(
        f"There is no CA in {data_dir}, and the database already belongs to a CA"
        f" ({short(recorded)}); padlock does not make a second CA in it.",
        hint="Copy the CA to this host with `padlock ca clone-to DIR` on a host that has it"
        ' (see docs/ca-operations.md, "A second host").',
    )


# --- audit: stored signatures against the identity ---------------------------------------


class Keyring:
    """The identity's CA certificates by issuer id, and checks of stored signed objects."""

    def __init__(self, identity: CaIdentity) -> None:
        self._certs = {c.issuer: c.certificate for c in identity}
        self._responders: dict[bytes, str | None] = {}

    def certificate_problem(self, issuer: str, der: bytes) -> str | None:
        """Why a stored certificate is not signed by its issuer's recorded key (None: it is)."""
        ca = self._certs.get(issuer)
        if ca is None:
            return f"its issuer {issuer!r} is not one of the recorded CAs"
        try:
            x509.load_der_x509_certificate(der).verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return f"it is not signed by the recorded {issuer} key"
        return None

    def crl_problem(self, issuer: str, der: bytes) -> str | None:
        """Why a stored CRL is not signed by its issuer's recorded key (None: it is)."""
        ca = self._certs.get(issuer)
        if ca is None:
            return f"its issuer {issuer!r} is not one of the recorded CAs"
        try:
            crl = x509.load_der_x509_crl(der)
            valid = crl.issuer == ca.subject and crl.is_signature_valid(
                ca.public_key()  # type: ignore[arg-type]
            )
        except (ValueError, TypeError):
            valid = False
        return None if valid else f"it is not signed by the recorded {issuer} key"

    def ocsp_problem(self, issuer: str, der: bytes) -> str | None:
        """Why a stored OCSP response is not signed by the recorded CA, directly or through a
        responder it certified (RFC 6960 4.2.2.2), or None."""
        ca = self._certs.get(issuer)
        if ca is None:
            return f"its issuer {issuer!r} is not one of the recorded CAs"
        try:
            response = ocsp.load_der_ocsp_response(der)
            signers = response.certificates or [ca]
            signer = signers[0]
            if signer is not ca:
                bad = self._responder_problem(issuer, ca, signer)
                if bad:
                    return bad
            ok = _verifies(
                signer.public_key(),
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
        except (ValueError, TypeError):
            ok = False
        return None if ok else f"it is not signed by the recorded {issuer} key or its responder"

    def _responder_problem(
        self, issuer: str, ca: x509.Certificate, responder: x509.Certificate
    ) -> str | None:
        der = responder.public_bytes(Encoding.DER)
        if der not in self._responders:
            try:
                responder.verify_directly_issued_by(ca)
                self._responders[der] = None
            except (ValueError, TypeError, InvalidSignature):
                self._responders[der] = (
                    f"its responder {responder.subject.rfc4514_string()} was not certified"
                    f" by the recorded {issuer} key"
                )
        return self._responders[der]


def _verifies(
    public: object, signature: bytes, data: bytes, digest: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and digest is not None:
            public.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(public, rsa.RSAPublicKey) and digest is not None:
            public.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            public.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def foreign_signatures(
    identity: CaIdentity,
    certificates: Iterable[tuple[str, str, bytes]],
    crls: Iterable[tuple[str, bytes]],
    responses: Iterable[tuple[str, str, bytes]],
    limit: int = 20,
) -> list[str]:
    """Stored objects not signed by the identity's keys (at most ``limit``): (serial, issuer,
    der) of issued certificates, (issuer, der) of CRLs, (serial, issuer, der) of OCSP
    responses."""
    ring = Keyring(identity)
    kinds: tuple[tuple[Iterable[tuple[str, str, bytes]], Callable[[str, bytes], str | None]], ...]
    kinds = (
        (((f"certificate {s}", i, d) for s, i, d in certificates), ring.certificate_problem),
        (((f"the CRL of {i}", i, d) for i, d in crls), ring.crl_problem),
        (((f"the OCSP response for {s}", i, d) for s, i, d in responses), ring.ocsp_problem),
    )
    found: list[str] = []
    for items, check in kinds:
        for label, issuer, der in items:
            bad = check(issuer, der)
            if bad:
                found.append(f"{label}: {bad}")
                if len(found) >= limit:
                    return found
    return found
