"""The ACME server's use cases (RFC 8555, RFC 8737, RFC 8738, RFC 9773): accounts, orders,
authorizations, challenges, finalization, certificates, revocation, renewal info.

The front end (``web/acme_api.py``) parses nothing but the HTTP envelope: it hands a
parsed :class:`~padlock.acme.jws.JWS`, the request URL and the directory to the
methods of :class:`~padlock.ca.acmeserver.service.AcmeService`, which authenticate,
check and change state, and return records (``padlock.acme.messages``) the front end
renders. (``padlock.acme`` is the pure RFC 8555 vocabulary; this package is the server.)

The rooms:

- ``model``: directories, settings, ACME-only problems and the results handed back;
- ``nonces``: replay nonces (made without a write, used once in every worker);
- ``core``: what every step shares: authentication, one transaction per step, rate limits;
- ``accounts``, ``orders`` (new orders, finalization, certificate download),
  ``challenges`` (authorizations, challenges and their validation), ``review`` (ov
  orders a reviewer completes), ``revocation`` (revokeCert and renewal information);
- ``service``: :class:`~padlock.ca.acmeserver.service.AcmeService`, the one object the
  front end holds, made of the rooms above.

Storage goes through :class:`~padlock.ca.ports.acme_server.AcmeStore` (implemented in
``store/acme.py``): one transaction per request step, in which the request's nonce is
consumed together with the change it authorizes. Several worker processes share
everything through the database: nonces (a used-nonce table with a primary key),
the nonce MAC key, rate-limit counters, challenge claims (a challenge is validated by
the worker that moved it to ``processing``; a claim older than the lease may be taken
over), and order state (a finalization wins by moving the order from ``ready`` to
``processing`` in one UPDATE, so parallel finalizations issue one certificate).
"""
