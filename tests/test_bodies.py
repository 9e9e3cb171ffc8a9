"""The bounded JSON loader and body limits every parser of the server uses."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from padlock import bodies
from padlock.errors import Malformed, PayloadTooLarge

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: a test that ran before on this worker (the
    browser tests' Playwright) may leave an event loop marked running in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_bodies_loads_plain_json() -> None:
    assert bodies.loads(b'{"a": [1, {"b": "[[[["}], "c": null}') == {
        "a": [1, {"b": "[[[["}],
        "c": None,
    }


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[" * 30_000, "deeper than"),
        (b'{"a":' * 30_000, "deeper than"),
        (b"[" * (bodies.MAX_DEPTH + 1) + b"]" * (bodies.MAX_DEPTH + 1), "deeper than"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b'{"k": 1, "k": 2}', "appears twice"),
        (b'{"k": "\xff"}', "not UTF-8"),
        ('{"k": 1}'.encode("utf-16"), "not UTF-8"),
        (b'{"k": "abc', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" + b"9" * 5000 + b"]", "padlock can read"),
    ],
)
def test_bodies_loads_refuses_hostile_json(data: bytes, says: str) -> None:
    with pytest.raises(Malformed, match=says):
        bodies.loads(data)


def test_bodies_loads_depth_at_the_limit_passes() -> None:
    deep = b"[" * bodies.MAX_DEPTH + b"]" * bodies.MAX_DEPTH
    assert bodies.nesting_depth(deep) == bodies.MAX_DEPTH
    bodies.loads(deep)


def test_bodies_nesting_depth_skips_strings() -> None:
    text = b'["' + b"[" * 100 + b'", "\\"[[[[", {"x": [1]}]'
    assert bodies.nesting_depth(text) == 3


def test_bodies_loads_refuses_huge() -> None:
    with pytest.raises(PayloadTooLarge):
        bodies.loads(b'"' + b"a" * bodies.MAX_BODY + b'"')


def test_bodies_limit_for_media_type() -> None:
    assert bodies.limit_for(b"multipart/form-data; boundary=x") == bodies.MAX_UPLOAD
    assert bodies.limit_for("application/json") == bodies.MAX_BODY
    assert bodies.limit_for(None) == bodies.MAX_BODY


def _receive(chunks: list[bytes]) -> Any:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


async def _drain(receive: Any) -> int:
    size = 0
    while True:
        message = await receive()
        size += len(message["body"])
        if not message["more_body"]:
            return size


def test_bodies_limited_counts_what_is_read() -> None:
    ok = bodies.limited(_receive([b"a" * 10, b"b" * 10]), 20)
    assert _run(_drain(ok)) == 20
    over = bodies.limited(_receive([b"a" * 10, b"b" * 11]), 20)
    with pytest.raises(PayloadTooLarge):
        _run(_drain(over))


@pytest.mark.parametrize(("declared", "error"), [(b"21", PayloadTooLarge), (b"x1", Malformed)])
def test_bodies_limited_checks_declared_length(declared: bytes, error: type[Exception]) -> None:
    receive = bodies.limited(_receive([b""]), 20, declared)
    with pytest.raises(error):
        _run(_drain(receive))


def test_bodies_read_body_joins_chunks() -> None:
    assert _run(bodies.read_body(_receive([b"ab", b"", b"cd"]), 4)) == b"abcd"


def test_bodies_read_body_refuses_past_the_limit_without_reading_on() -> None:
    messages = [b"a" * 10, b"b" * 11, b"never read"]
    read: list[bytes] = []

    async def receive() -> dict[str, Any]:
        body = messages.pop(0)
        read.append(body)
        return {"type": "http.request", "body": body, "more_body": bool(messages)}

    with pytest.raises(PayloadTooLarge, match="over 20 bytes"):
        _run(bodies.read_body(receive, 20))
    assert len(read) == 2
    with pytest.raises(PayloadTooLarge, match=r"^ACME says no$"):
        _run(bodies.read_body(_receive([b"x" * 30]), 20, "ACME says no"))


def test_bodies_read_body_client_gone_is_empty() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    assert _run(bodies.read_body(receive, 20)) == b""


def test_bodies_header_from_scope() -> None:
    scope = {"headers": [(b"content-type", b"application/json"), (b"x", b"1")]}
    assert bodies.header(scope, b"content-type") == b"application/json"
    assert bodies.header(scope, b"content-length") is None
    assert bodies.header({}, b"x") is None
