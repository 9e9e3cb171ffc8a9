"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, outbox: list[Received], lock: threading.Lock) -> None:
        self.outbox = outbox
        self.lock = lock

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.outbox.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), msg)  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"


class _BoundController(Controller):
    """aiosmtpd's Controller on a socket bound here to port 0: the port is known before the
    server starts, and no other program can take it in between."""

    def __init__(self, handler: Any) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1])

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class TestSMTP:
    """Start with :meth:`start`; ``messages`` holds what arrived; ``wait_for`` polls (bounded)."""

    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outbox: list[Received] = []
        self._controller = _BoundController(_Handler(self._outbox, self._lock))
        self.port: int = self._controller.port

    def start(self) -> TestSMTP:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._outbox)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        """The messages to ``address`` once there are ``count`` of them (or what came)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(address)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.to(address)
