"""One SMTP session. aiosmtplib opens it (greeting, EHLO, STARTTLS, AUTH); then this class
takes the connection over and sends mail transactions itself, pipelined (RFC 2920) when the
server offers PIPELINING: MAIL, RCPT and DATA go out in one write and the message in a
second — two round-trips per message instead of four.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import NamedTuple

import aiosmtplib

#: Seconds to wait for a reply.
TIMEOUT = 30.0
_PERIOD = re.compile(rb"(?m)^\.")
_LINE_ENDS = re.compile(rb"\r\n|\n|\r(?!\n)")
_UNSAFE = re.compile(r"[\x00-\x20<>\x7f]")


class Reply(NamedTuple):
    code: int
    text: str


class SessionLost(ConnectionError):
    """The connection closed or timed out; ``before_data`` when the message's content
    was not written yet (so the server cannot have accepted it)."""

    def __init__(self, message: str, before_data: bool):
        super().__init__(message)
        self.before_data = before_data


class Refused(Exception):
    """A reply other than the expected one, at ``stage`` (MAIL, RCPT or DATA)."""

    def __init__(self, stage: str, reply: Reply):
        super().__init__(f"{reply.code} {reply.text}")
        self.stage, self.code, self.text = stage, reply.code, reply.text


class _Replies(asyncio.Protocol):
    """Parses the server's replies into a queue (any number may be outstanding)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._lines: list[str] = []
        self._waiter: asyncio.Future | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end + 1])
            del self._buffer[:end + 1]
            self._lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    code = 500
                self._replies.append(Reply(code, "\n".join(self._lines)))
                self._lines = []
        self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionError("connection closed by the server")
        self.transport = None
        self._wake()

    def eof_received(self) -> bool:
        return False

    @property
    def pending(self) -> bool:
        return bool(self._replies or self._lines)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def reply(self, before_data: bool) -> Reply:
        while not self._replies:
            if self.lost is not None:
                raise SessionLost(f"SMTP connection lost: {self.lost}", before_data)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, TIMEOUT)
            except asyncio.TimeoutError:
                raise SessionLost("SMTP reply timed out", before_data) from None
        return self._replies.popleft()


class SmtpSession:
    def __init__(self, client: aiosmtplib.SMTP):
        self._client = client
        self._replies = _Replies()
        self.pipelining = False
        self.size = False

    @classmethod
    async def open(cls, client: aiosmtplib.SMTP) -> "SmtpSession":
        """Connect ``client`` (greeting, EHLO, STARTTLS, AUTH) and take its connection."""
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # e.g. after STARTTLS (aiosmtplib defers it)
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        session = cls(client)
        session.pipelining = client.supports_extension("pipelining")
        session.size = client.supports_extension("size")
        transport = client.transport
        transport.set_protocol(session._replies)
        session._replies.transport = transport
        return session

    @property
    def is_connected(self) -> bool:
        transport = self._replies.transport
        return transport is not None and not transport.is_closing()

    @property
    def usable(self) -> bool:
        """Connected, with no reply nobody asked for (e.g. a 421 before the server hangs up)."""
        return self.is_connected and not self._replies.pending

    def _write(self, data: bytes, before_data: bool) -> None:
        if not self.is_connected:
            raise SessionLost("SMTP connection lost", before_data)
        self._replies.transport.write(data)

    async def send(self, sender: str, recipient: str, data: bytes) -> None:
        """One transaction; raises :class:`Refused` (the session stays usable after a
        ``reset``), :class:`SessionLost`, or ``ValueError`` for an unusable address."""
        mail = b"MAIL FROM:<" + _address(sender) + b">"
        if self.size:
            mail += b" SIZE=%d" % len(data)
        rcpt = b"RCPT TO:<" + _address(recipient) + b">"
        content = _content(data)
        if self.pipelining:
            self._write(mail + b"\r\n" + rcpt + b"\r\nDATA\r\n", True)
            replies = [await self._replies.reply(True) for _ in range(3)]
        else:
            replies = []
            for stage, command in (("MAIL", mail), ("RCPT", rcpt), ("DATA", b"DATA")):
                self._write(command + b"\r\n", True)
                replies.append(await self._replies.reply(True))
                if replies[-1].code >= 400:
                    break
        refused = next((Refused(stage, reply) for stage, reply, ok in zip(
            ("MAIL", "RCPT", "DATA"), replies, ((250,), (250, 251), (354,)))
            if reply.code not in ok), None)
        if refused is not None:
            if len(replies) == 3 and replies[2].code == 354:  # DATA accepted regardless
                self._write(b".\r\n", False)
                await self._replies.reply(False)
            raise refused
        self._write(content, True)
        final = await self._replies.reply(False)
        if final.code != 250:
            raise Refused("DATA", final)

    async def reset(self) -> bool:
        """RSET after a refusal; False when the session is no longer usable."""
        try:
            self._write(b"RSET\r\n", True)
            return (await self._replies.reply(True)).code == 250
        except SessionLost:
            return False

    async def quit(self) -> None:
        try:
            self._write(b"QUIT\r\n", True)
            await asyncio.wait_for(self._replies.reply(True), 5)
        except (SessionLost, asyncio.TimeoutError):
            pass
        self.close()

    def close(self) -> None:
        transport = self._replies.transport
        if transport is not None:
            transport.close()
        self._replies.transport = None


def _address(address: str) -> bytes:
    if not address or _UNSAFE.search(address):
        raise ValueError(f"unusable address {address!r}")
    return address.encode("ascii")  # UnicodeEncodeError (a ValueError) without SMTPUTF8


def _content(data: bytes) -> bytes:
    """``data`` as DATA content: CRLF line ends, dot-stuffed, ending in ``.``."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        data = _LINE_ENDS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b".") or b"\n." in data:
        data = _PERIOD.sub(b"..", data)
    return data + b".\r\n"
