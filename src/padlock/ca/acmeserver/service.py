"""The ACME server as the front end holds it: one object made of the rooms."""

from __future__ import annotations

from padlock.ca.acmeserver.accounts import AcmeAccounts
from padlock.ca.acmeserver.challenges import AcmeChallenges
from padlock.ca.acmeserver.review import AcmeReview
from padlock.ca.acmeserver.revocation import AcmeRevocation


class AcmeService(AcmeAccounts, AcmeReview, AcmeChallenges, AcmeRevocation):
    """Every ACME operation; one instance per worker process, shared by its threads.

    Each base is one room (``accounts``, ``orders`` through ``review``, ``challenges``,
    ``revocation``), all over :class:`~padlock.ca.acmeserver.core.AcmeCore`, which is made
    with the parts (store, issuer, settings, probes, ...) and holds nonces and keys.
    """
