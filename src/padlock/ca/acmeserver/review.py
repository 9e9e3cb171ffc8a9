"""ov certificates through ACME: a finalized ov order waits in ``processing`` until a
reviewer verifies the organization (the review console) and completes or rejects it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from padlock.acme import messages as m
from padlock.ca.acmeserver.orders import AcmeOrders
from padlock.ca.audit import AuditEntry
from padlock.errors import Conflict, NotFound, Unauthorized
from padlock.pki import certs


class AcmeReview(AcmeOrders):
    """The review console's hooks into ACME orders."""

    def orders_awaiting_review(self) -> list[m.Order]:
        profiles = [
            name
            for p in self.issuer.profiles.values()
            if p.needs_organization
            for name in (p.name, *p.aliases)
        ]
        with self.store.transaction(write=False) as tx:
            return tx.orders_awaiting_review(profiles)

    def complete_reviewed_order(
        self, order_id: str, organization: certs.Organization, reviewer: str
    ) -> m.Order:
        """The review console's hook: a reviewer verified the organization; issue now."""
        order, csr = self._awaiting_review(order_id)
        return self._issue(order, csr, f"reviewer:{reviewer}", organization)

    def reject_reviewed_order(self, order_id: str, reason: str, reviewer: str) -> m.Order:
        order, _csr = self._awaiting_review(order_id)
        now = self.clock()
        error = Unauthorized(f"The reviewer rejected the order: {reason}").to_problem()
        with self.store.transaction() as tx:
            if not tx.move_order(order.id, m.PROCESSING, m.INVALID, now, error=error):
                raise Conflict(f"Order {order_id} is no longer waiting for review.")
            tx.audit(
                AuditEntry(
                    "acme.order.rejected",
                    f"reviewer:{reviewer}",
                    "acme_order",
                    order.id,
                    {"reason": reason},
                ),
                now,
            )
        return replace(order, status=m.INVALID, error=error)

    def _awaiting_review(self, order_id: str) -> tuple[m.Order, bytes]:
        with self.store.transaction(write=False) as tx:
            order = tx.order(order_id)
            csr = tx.order_csr(order_id)
        if order is None:
            raise NotFound(f"There is no ACME order {order_id}.")
        profile = self.issuer.profiles[order.profile]
        if not profile.needs_organization or order.status != m.PROCESSING:
            raise Conflict(f"ACME order {order_id} is {order.status}, not waiting for review.")
        if csr is None:  # pragma: no cover - processing orders always keep their CSR
            raise Conflict(f"ACME order {order_id} has no CSR.")
        return order, csr


def pending_review(service: AcmeReview) -> Iterator[m.Order]:
    """Orders waiting for a reviewer (ov through ACME), oldest first."""
    yield from sorted(service.orders_awaiting_review(), key=lambda o: o.created_at)
