"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


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


class TestSMTP:
    """Start with :meth:`start`; ``messages`` holds what arrived; ``wait_for`` polls (bounded)."""

    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outbox: list[Received] = []
        self.port = free_port()
        self._controller = Controller(
            _Handler(self._outbox, self._lock), hostname="127.0.0.1", port=self.port
        )

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
