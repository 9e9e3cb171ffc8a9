"""Email to the applicant when a request changes state (SMTP, off unless configured).

``PADLOCK_SMTP_HOST`` turns it on; ``PADLOCK_SMTP_PORT`` (default 25) and
``PADLOCK_SMTP_FROM`` (default ``padlock@<host of the base URL>``) complete it.
Mail is sent after the change is committed; a failure is logged, never raised:
the request's state is what counts, the mail only tells about it.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

log = logging.getLogger("padlock.notify")

SMTP_TIMEOUT_S = 10.0


class Notifier(Protocol):
    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text message; may raise (the caller logs it)."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = "padlock@localhost"
    timeout: float = SMTP_TIMEOUT_S

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_sender: str) -> SmtpConfig | None:
        """The SMTP settings from ``PADLOCK_SMTP_*``, or None when mail is off."""
        host = (env.get("PADLOCK_SMTP_HOST") or "").strip()
        if not host:
            return None
        port = int(env.get("PADLOCK_SMTP_PORT") or "25")
        sender = (env.get("PADLOCK_SMTP_FROM") or "").strip() or default_sender
        return cls(host, port, sender)


class SmtpMailer:
    """Plain SMTP to a relay (a local MTA or a smarthost); one connection per message."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.config.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.config.sender.rpartition("@")[2] or None)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        msg.set_content(body)
        with smtplib.SMTP(self.config.host, self.config.port, timeout=self.config.timeout) as smtp:
            smtp.send_message(msg)


def deliver(notifier: Notifier | None, to: str, subject: str, body: str) -> bool:
    """Send if mail is on; log and swallow any failure. True when the message went out."""
    if notifier is None:
        return False
    try:
        notifier.send(to, subject, body)
    except Exception as exc:  # a mail problem must never undo or fail a committed change
        log.warning("could not mail %r about %r: %s", to, subject, exc)
        return False
    return True
