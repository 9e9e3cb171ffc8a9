"""Certificate serial numbers as people see and type them.

Shown as ``openssl x509 -serial`` shows them (uppercase hex, an even number of digits:
``09987BF7...``), so that searching openssl's output for padlock's finds it. Read in any
of the forms in use: with or without the leading zero, any case, with colons
(``09:98:7b:...``, as ``openssl x509 -text`` prints), with ``0x`` or ``serial=``.
"""

from __future__ import annotations

import re

from padlock.errors import Malformed

_HEX = re.compile(r"[0-9a-f]+")
MAX_SERIAL_HEX = 40  # RFC 5280 section 4.1.2.2: at most 20 octets


def display(serial: int) -> str:
    """``openssl x509 -serial``'s form: uppercase hex, even length (RFC 5280 serials are
    DER INTEGER octets; openssl prints them whole)."""
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else "0" + text


def parse(text: str) -> int:
    """A serial in any of the forms people paste; Malformed with the accepted forms."""
    raw = text.strip().lower()
    for prefix in ("serial=", "0x"):
        raw = raw.removeprefix(prefix)
    digits = raw.replace(":", "").replace(" ", "")
    if not digits or not _HEX.fullmatch(digits) or len(digits.lstrip("0")) > MAX_SERIAL_HEX:
        raise Malformed(
            f"{text!r} is not a certificate serial number.",
            hint="Give it in hex as openssl x509 -serial prints it (e.g. 09987BF7...);"
            " case, a leading zero and colons do not matter.",
        )
    return int(digits, 16)
