#!/usr/bin/env python3
"""Write the blocklist lines for key files, in badkeys' text format (blocklistmaker's).

    scripts/make_blocklist.py tests/pki/data/rfc9500/*.pem > src/padlock/pki/data/rfc9500-keys.txt

Each key file (PEM: private key, public key or certificate) gives one line: 30 hex
digits of the truncated SHA-256 padlock and badkeys file the key under
(padlock.pki.keypolicy.blocklist_digest), then 2 hex digits of list id (default 9,
badkeys' list of keys published in RFCs). Lines are sorted and unique, so
`xxd -r -p` turns the output into a blocklist.dat that badkeys itself reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from padlock.pki.keypolicy import RFC9500_LIST_ID, blocklist_digest


def public_key_of(pem: bytes) -> PublicKeyTypes:
    if b"CERTIFICATE-----" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    if b"PUBLIC KEY-----" in pem:
        return serialization.load_pem_public_key(pem)
    return serialization.load_pem_private_key(pem, password=None).public_key()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="PEM key or certificate files")
    parser.add_argument("--list-id", type=int, default=RFC9500_LIST_ID, help="badkeys list id")
    args = parser.parse_args(argv)
    if not 0 <= args.list_id <= 255:
        parser.error("--list-id must fit in one byte")
    lines = {
        blocklist_digest(public_key_of(path.read_bytes())).hex() + f"{args.list_id:02x}"
        for path in args.files
    }
    sys.stdout.write("".join(line + "\n" for line in sorted(lines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
