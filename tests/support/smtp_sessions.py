"""A real SMTP server (aiosmtpd) that counts, on the server side, the SMTP sessions
(opened, open now, most open at once) and when each message arrived — for the pool and
send-limit tests. ``drop_sessions()`` closes every open session from the server side.

With ``pipelining=True`` it offers PIPELINING in its EHLO reply (aiosmtpd reads commands
line by line, so pipelined ones work). Recipients with ``+reject`` get a 550 on RCPT,
``+busy`` a 451 on RCPT, ``+policy`` a 554 after DATA."""

from __future__ import annotations

import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.smtp import free_port


class _CountingSMTP(SMTP):
    def __init__(self, sink: "CountingSink", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._sink._opened(self)

    def connection_lost(self, error) -> None:
        self._sink._closed(self)
        super().connection_lost(error)


class _Handler:
    def __init__(self, sink: "CountingSink"):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "+reject" in address:
            return "550 5.1.1 mailbox unavailable"
        if "+busy" in address:
            return "451 4.3.2 busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any("+policy" in r for r in envelope.rcpt_tos):
            return "554 5.7.1 refused by policy"
        self.sink._arrived(envelope.rcpt_tos)
        return "250 OK"


class _Controller(Controller):
    def __init__(self, sink: "CountingSink", **kwargs):
        super().__init__(_Handler(sink), **kwargs)
        self._sink = sink

    def factory(self):
        return _CountingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class CountingSink:
    def __init__(self, pipelining: bool = False):
        self.pipelining = pipelining
        self.port = free_port()
        self._lock = threading.Lock()
        self._live: set[_CountingSMTP] = set()
        self.sessions = 0  # sessions opened
        self.max_open = 0  # most sessions open at the same time
        self.arrivals: list[tuple[float, str]] = []  # (monotonic time, recipient)
        self._controller = _Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "CountingSink":
        self._controller.start()  # its start-up probe connects once: not counted
        self.reset()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def reset(self) -> None:
        with self._lock:
            self.sessions = 0
            self.max_open = len(self._live)
            self.arrivals = []

    @property
    def open_now(self) -> int:
        with self._lock:
            return len(self._live)

    def recipients(self) -> list[str]:
        with self._lock:
            return [r for _, r in self.arrivals]

    def wait_until(self, condition, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    async def until(self, condition, timeout: float = 10.0) -> bool:
        """:meth:`wait_until` without blocking the caller's event loop."""
        import asyncio

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.02)
        return condition()

    def drop_sessions(self) -> None:
        """Close every open session from the server side (as an idle timeout would)."""
        with self._lock:
            live = list(self._live)
        for smtp in live:
            self._controller.loop.call_soon_threadsafe(smtp.transport.close)

    def _opened(self, smtp: _CountingSMTP) -> None:
        with self._lock:
            if smtp in self._live:  # STARTTLS: the same session on its TLS transport
                return
            self._live.add(smtp)
            self.sessions += 1
            self.max_open = max(self.max_open, len(self._live))

    def _closed(self, smtp: _CountingSMTP) -> None:
        with self._lock:
            self._live.discard(smtp)

    def _arrived(self, recipients) -> None:
        now = time.monotonic()
        with self._lock:
            self.arrivals.extend((now, r) for r in recipients)
