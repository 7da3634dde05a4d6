"""A real SMTP server (aiosmtpd) that records what it receives.

Recipients whose address contains ``+tempfail`` get a 451 on their first attempt,
``+busy`` a 451 on every attempt, ``+reject`` a 550 (mailbox unavailable: a hard bounce)
and ``+policy`` a 554 (refused, but not for the mailbox) — for retry and failure paths.
``delay`` slows every message down.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_to: tuple[str, ...]
    message: Message
    at: float = field(default_factory=time.time)  # epoch s when the server accepted it

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]

    def body_text(self) -> str:
        part = self.message.get_body(("plain",)) if hasattr(self.message, "get_body") else None
        payload = (part or self.message).get_payload(decode=True)
        return payload.decode("utf-8", "replace") if payload else ""


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "+reject" in address:
            return "550 5.1.1 mailbox unavailable"
        if "+policy" in address:
            return "554 5.7.1 refused by policy"
        if "+busy" in address:
            return "451 4.3.2 busy, try again later"
        if "+tempfail" in address and self.sink.count_attempt(address) == 1:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            import asyncio

            await asyncio.sleep(self.sink.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.add(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    #: The aiosmtpd handler class (a subclass of ``_Handler`` changes how it answers).
    handler = _Handler

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._attempts: dict[str, int] = {}
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpSink":
        """Listen (again, after :meth:`stop`: an outage ends) on the sink's port."""
        self._controller = Controller(self.handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the open sessions (an outage begins)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def count_attempt(self, address: str) -> int:
        with self._lock:
            self._attempts[address] = self._attempts.get(address, 0) + 1
            return self._attempts[address]

    def messages(self, campaign_id: int | None = None) -> list[Received]:
        """Received messages, optionally only those of one campaign (by Message-ID)."""
        with self._lock:
            messages = list(self._messages)
        if campaign_id is None:
            return messages
        prefix = f"<c{campaign_id}."
        return [m for m in messages if (m.message_id or "").startswith(prefix)]

    def wait_for(self, campaign_id: int, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait until ``count`` distinct Message-IDs of the campaign arrived (or time out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages(campaign_id)
            if len({m.message_id for m in messages}) >= count:
                return messages
            time.sleep(0.05)
        return self.messages(campaign_id)
