"""Revocation through ACME (RFC 8555 section 7.6) and renewal information (RFC 9773)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from padlock.acme import jws as jwslib
from padlock.acme import messages as m
from padlock.ca.acmeserver.core import AcmeCore, spki_der
from padlock.ca.acmeserver.model import Directory
from padlock.ca.ports.acme_server import AcmeTx
from padlock.ca.records import CertificateRecord, CertState
from padlock.errors import Malformed, NotFound, Unauthorized
from padlock.pki.profiles import Hierarchy


class AcmeRevocation(AcmeCore):
    """revokeCert and renewalInfo."""

    def _revocable(
        self, d: Directory, req: m.Revocation
    ) -> tuple[x509.Certificate, CertificateRecord]:
        """The certificate a revokeCert names, issued by this CA under this directory."""
        try:
            cert = x509.load_der_x509_certificate(req.certificate_der)
        except ValueError:
            raise Malformed("'certificate' is not a DER certificate.") from None
        record = self.certificates.get_certificate(cert.serial_number)
        if record is None or record.der != req.certificate_der:
            raise NotFound("This CA did not issue that certificate.")
        if Hierarchy(record.hierarchy) is not d.hierarchy:
            raise NotFound("That certificate was issued under the other directory.")
        return cert, record

    def revoke(self, d: Directory, jws: jwslib.JWS, url: str) -> CertificateRecord:
        """RFC 8555 7.6: by the certificate's key (jwk) or by an account (kid). The request is
        authenticated (signature, nonce, account) before its certificate is read."""

        def work(
            tx: AcmeTx, nonce_key: str, now: dt.datetime
        ) -> tuple[str, int, CertificateRecord]:
            if jws.jwk is not None:
                key = jwslib.public_key_from_jwk(jws.jwk)
                jwslib.verify(jws, key)
                self._use_nonce(tx, nonce_key, now)
                req = m.parse_revocation(jws.payload_json())
                cert, record = self._revocable(d, req)
                if spki_der(key) != spki_der(cert.public_key()):
                    raise Unauthorized("The JWS key is not the certificate's key.")
                return "acme:certificate-key", req.reason, record
            account = self._authenticate(tx, d, jws, nonce_key, now)
            req = m.parse_revocation(jws.payload_json())
            _cert, record = self._revocable(d, req)
            actor = f"acme:{account.id}"
            order = tx.order_by_cert(record.serial_hex)
            if order is not None and order.account_id == account.id:
                return actor, req.reason, record
            names = {n.removeprefix("*.") for n in record.names}
            if tx.valid_identifiers(account.id, sorted(names), now) >= names:
                return actor, req.reason, record
            raise Unauthorized(
                "The account neither ordered this certificate nor holds valid"
                " authorizations for all its names."
            )

        actor: str
        reason: int
        record: CertificateRecord
        actor, reason, record = self._run(jws, url, work)
        result = self._revoke(record.serial, reason, actor, self.clock())
        if isinstance(result, CertificateRecord):
            return result
        return self.certificates.get_certificate(record.serial) or record

    def renewal_info(self, cert_id: str) -> tuple[dt.datetime, dt.datetime, int]:
        """(window start, window end, Retry-After seconds) for a certificate identifier."""
        aki, serial = m.parse_cert_id(cert_id)
        record = self.certificates.get_certificate(serial)
        if record is None or record.der is None:
            raise NotFound("This CA knows no such certificate.")
        # its own issuing CA's key id: a certificate of a succeeded CA (ca new-issuer) too
        signer = self.issuer.signer_by_id(record.issuer) or self.issuer.signer_for(
            Hierarchy(record.hierarchy)
        )
        ski = signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        if ski.value.digest != aki:
            raise NotFound("This CA knows no such certificate (the issuer key id differs).")
        revoked = record.revoked_at if record.state is CertState.REVOKED else None
        start, end = m.renewal_window(record.not_before, record.not_after, revoked)
        return start, end, 6 * 3600
