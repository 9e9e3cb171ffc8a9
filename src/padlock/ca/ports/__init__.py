"""The CA's storage border: every protocol ``store/`` implements for the use cases in ``ca/``.

One module per area, each naming what it stores:

- :mod:`padlock.ca.ports.certificates`: the certificate store and the audit log
  (issuance, revocation, ``audit verify``), and the extra writes (``StoreWrite``,
  ``GuardedWrite``) that ride in a certificate's transaction.
- :mod:`padlock.ca.ports.acme_server`: the ACME server's store (accounts, orders,
  authorizations, challenges, nonces, rate counters).
- :mod:`padlock.ca.ports.enrollment`: the enrollment requests of the REST API, the
  portal and the review console.

The values that cross the border live with their models (``ca/records.py``,
``ca/audit.py``, ``ca/enrollment/model.py``, ``padlock.acme.messages``). This package
also re-exports the certificate port and its values, as ``padlock.ca.ports`` has
always offered them (some forty call sites in store/, web/, cli/ and tests); the ACME
and enrollment ports are imported from their own modules.
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
