"""The CA's storage border: every protocol ``store/`` implements for the use cases in ``ca/``.

One module per area, each naming what it stores:

- :mod:`padlock.ca.ports.certificates`: the certificate store and the audit log
  (issuance, revocation, ``audit verify``), and the extra writes (``StoreWrite``,
  ``GuardedWrite``) that ride in a certificate's transaction.
- :mod:`padlock.ca.ports.acme_server`: the ACME server's store (accounts, orders,
  authorizations, challenges, nonces, rate counters).
- :mod:`padlock.ca.ports.enrollment`: the enrollment requests of the REST API, the
  portal and the review console.
- :mod:`padlock.ca.ports.revocation`: revocations, blocked keys, CRLs and pre-signed
  OCSP responses (``StoredCrl``, ``CachedResponse``).
- :mod:`padlock.ca.ports.reviewers`: the review console's accounts, sessions and
  failed-login counts (``Reviewer``, ``StoredReviewer``, ``StoredSession``, ``Throttle``).
- :mod:`padlock.ca.ports.identity`: the CA identity a database belongs to
  (``CaCertificate``, ``CaIdentity``) and the signatures ``audit verify`` checks.

The values that cross the border live with their models (``ca/records.py``,
``ca/audit.py``, ``ca/enrollment/model.py``, ``padlock.acme.messages``) or, where an
area has no model module, beside its port. This package also re-exports the
certificate port and its values, as ``padlock.ca.ports`` has always offered them (some
forty call sites in store/, web/, cli/ and tests); the other ports are imported from
their own modules.
"""

from padlock.ca.audit import AuditEntry, AuditEvent
from padlock.ca.ports.certificates import (
    AuditLog,
    CertificateStore,
    GuardedWrite,
    Store,
    StoreWrite,
)
from padlock.ca.records import CertificateRecord, CertState, Reservation

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "CertState",
    "CertificateRecord",
    "CertificateStore",
    "GuardedWrite",
    "Reservation",
    "Store",
    "StoreWrite",
]
