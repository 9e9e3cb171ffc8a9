"""Multi-perspective issuance corroboration (BR 3.2.2.9): the BR's rules (``quorum``), the
perspectives' configuration (``config``), the signed messages between the CA and a
perspective (``signing``), the perspective's own use case (``perspective``) and the CA's
coordinator (``coordinator``). The HTTP parts are adapters in ``padlock.perspective``."""
