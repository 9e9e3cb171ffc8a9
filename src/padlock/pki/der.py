"""The few pieces of DER (ITU-T X.690 section 10) that padlock writes and reads by hand.

``cryptography`` writes and parses every structure padlock keeps; this module is
for the places where going through its builders costs more than the bytes are
worth: a subscriber certificate's to-be-signed part made from a template
(``pki/certs.py``), an encrypted PKCS#8 wrapper with scrypt (``pki/pkcs8.py``),
and slicing a signed certificate into its parts. Whatever is written here is
read back by ``cryptography`` (and pkilint) before anything is signed or stored.
"""

from __future__ import annotations

import datetime as dt

# Universal tags (X.680 section 8.6), and the context-specific ones certificates use.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31

NULL = b"\x05\x00"
TRUE = b"\x01\x01\xff"  # BOOLEAN TRUE; DER has one encoding for it (X.690 11.1)


def length(n: int) -> bytes:
    """A definite length in the fewest octets (X.690 10.1)."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    return bytes((tag,)) + length(n) + body


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def integer(n: int) -> bytes:
    """An INTEGER in the fewest two's-complement octets (X.690 8.3.2)."""
    if n < 0:
        raise ValueError("padlock writes no negative INTEGER")
    return tlv(INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER (X.690 8.19): the first two arcs in one octet, base-128 after."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(OID, bytes(out))


def time(when: dt.datetime) -> bytes:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, in UTC, to the
    second (fractions are not written), always with "Z"."""
    if when.tzinfo is not None and when.tzinfo is not dt.UTC:
        offset = when.utcoffset()
        if offset:
            when = when - offset
    y, mo, d, h, mi, s = when.year, when.month, when.day, when.hour, when.minute, when.second
    if 1950 <= y < 2050:
        return tlv(UTC_TIME, f"{y % 100:02d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}Z".encode())
    return tlv(GENERALIZED_TIME, f"{y:04d}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}Z".encode())


# --- reading ------------------------------------------------------------------------------


def element(der: bytes, at: int) -> tuple[int, int]:
    """(start of the content, end of the element) of the DER element at ``at``."""
    if at + 2 > len(der):
        raise ValueError("truncated DER")
    first = der[at + 1]
    if first < 0x80:
        start, size = at + 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("a DER length of that form does not occur here")
        start = at + 2 + count
        size = int.from_bytes(der[at + 2 : start], "big")
    if start + size > len(der):
        raise ValueError("a DER element runs past the end of its data")
    return start, start + size


def children(der: bytes, at: int = 0) -> list[bytes]:
    """The DER of each element inside the constructed element at ``at``."""
    start, end = element(der, at)
    out: list[bytes] = []
    # element() inlined: certificates are walked on every issuance.
    while start < end:
        if start + 2 > end:
            raise ValueError("truncated DER")
        first = der[start + 1]
        if first < 0x80:
            stop = start + 2 + first
        else:
            count = first & 0x7F
            if not 1 <= count <= 4:
                raise ValueError("a DER length of that form does not occur here")
            head = start + 2 + count
            stop = head + int.from_bytes(der[start + 2 : head], "big")
        if stop > end:
            raise ValueError("a DER element runs past the end of its data")
        out.append(der[start:stop])
        start = stop
    return out
