"""The tests' ACME client: the kit's own (padlock.conformance.wire), and how a test reads a
problem answer."""

from __future__ import annotations

import httpx

from padlock.conformance.wire import (
    ACME_ERR,
    JOSE,
    Client,
    Key,
    b64,
    default_alg,
    jwk_of,
    jws,
    make_csr,
    sign,
    thumbprint,
)

__all__ = [
    "ACME_ERR",
    "JOSE",
    "Client",
    "Key",
    "b64",
    "default_alg",
    "jwk_of",
    "jws",
    "make_csr",
    "problem_type",
    "sign",
    "thumbprint",
]


def problem_type(resp: httpx.Response) -> str:
    """The ACME error type of a problem response, without the URN prefix."""
    assert resp.headers.get("Content-Type", "").startswith("application/problem+json"), (
        resp.status_code,
        resp.text,
    )
    kind: str = resp.json()["type"]
    return kind.removeprefix(ACME_ERR)
