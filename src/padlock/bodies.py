"""The one place that bounds what a client may send: body sizes and JSON.

Every body parser of the server goes through here: ACME's JWS (``acme/jws.py``), the
REST API's JSON (``web/rest_api.py``, ``web/revocation_api.py``), the portal's preview,
and, for their size, the forms of the portal and the review console and the OCSP
responder's requests (``web/limits.py`` applies :func:`limited` to every request).
Every body is read by the one ASGI reader, :func:`read_body` (the ACME and OCSP
endpoints, the JSON routes of ``web/limits.py``).
Pure: no framework, no I/O of its own; the ASGI ``receive`` callable is passed in.

JSON is read as RFC 8259 says it is interchanged: UTF-8 text (section 8.1), numbers
without NaN or Infinity (section 6), and names unique within an object (section 4;
RFC 7515 section 5.2 asks a JWS recipient to reject duplicate header names). Nesting
is bounded before the parser runs, so a body of ``[`` x 30,000 is a clear refusal,
never a ``RecursionError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from padlock.errors import Malformed, PayloadTooLarge

MAX_BODY = 256 * 1024  # any body but an upload: ACME's JWS, JSON, forms, OCSP requests
MAX_UPLOAD = 10 * 1024 * 1024 + 64 * 1024  # multipart: a 10 MiB document plus framing
MAX_DEPTH = 32  # nested arrays and objects; padlock's own documents need fewer than 6

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def limit_for(content_type: bytes | str | None) -> int:
    """The most a body of this media type may hold: uploads are multipart, all else small."""
    raw = content_type or b""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    media = text.split(";", 1)[0].strip().lower()
    return MAX_UPLOAD if media == "multipart/form-data" else MAX_BODY


def header(scope: Mapping[str, Any], name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case) in an ASGI HTTP scope, or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is over {limit} bytes, the most it takes.")


async def read_body(receive: Receive, limit: int, refusal: str | None = None) -> bytes:
    """The whole body of one request from ASGI ``receive``; empty if the client left.

    PayloadTooLarge (``refusal``, or a message naming ``limit``) as soon as the body
    passes ``limit`` bytes: the rest is never read, nothing past the limit is kept.
    """
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit) if refusal is None else PayloadTooLarge(refusal)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def check_length(declared: bytes | str | None, limit: int) -> None:
    """Refuse a Content-Length over ``limit`` (or not a number) before reading anything."""
    if declared is None:
        return
    text = declared.decode("latin-1") if isinstance(declared, bytes) else declared
    if not text.isdigit():
        raise Malformed("The Content-Length header is not a number.")
    if int(text) > limit:
        raise PayloadTooLarge(
            f"The request body is {int(text)} bytes; this server takes at most {limit} here."
        )


def limited(receive: Receive, limit: int, declared: bytes | None = None) -> Receive:
    """``receive`` that raises PayloadTooLarge once the body passes ``limit`` bytes.

    The declared Content-Length is checked at the first read, so that the endpoint that
    reads renders the refusal in its own way (ACME with a nonce, the console as a page).
    """
    size = 0
    checked = False

    async def bounded() -> Message:
        nonlocal size, checked
        if not checked:
            checked = True
            check_length(declared, limit)
        message = await receive()
        if message.get("type") == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _too_large(limit)
        return message

    return bounded


def nesting_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in ``data`` (strings skipped); linear time."""
    openers = data.count(b"[") + data.count(b"{")
    if openers <= MAX_DEPTH:
        return openers  # an upper bound, small enough: no need to look closer
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise Malformed(f"{name} is not a JSON number (RFC 8259 section 6).")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise Malformed(f"The member {key[:40]!r} appears twice in one object.")
            seen.add(key)
    return obj


def loads(data: bytes | str, what: str = "The request body") -> Any:
    """Parse JSON a client sent; Malformed (400) with a clear message for anything else."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"{what} is over {MAX_BODY} bytes, the most JSON may be here.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"{what} is not UTF-8 text (RFC 8259 section 8.1): {exc.reason}.") from None
    if nesting_depth(raw) > MAX_DEPTH:
        raise Malformed(f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels.")
    try:
        return json.loads(text, parse_constant=_constant, object_pairs_hook=_unique)
    except json.JSONDecodeError as exc:
        raise Malformed(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}.") from None
    except (ValueError, RecursionError):  # digits past int's limit; recursion: belt and braces
        raise Malformed(f"{what} is not JSON padlock can read.") from None
