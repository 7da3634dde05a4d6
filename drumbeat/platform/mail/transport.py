"""Where built messages go: an SMTP server (aiosmtplib) or an outbox folder of .eml files.

SMTP: a batch is spread over up to ``connections`` SMTP sessions, each reused for all
its messages. A 4xx reply, a lost connection or a timeout makes a delivery retryable (the
platform backs off); a 5xx reply fails it with the server's code and text, and the rest of
the batch goes on. A refused mailbox (550/551/553 on RCPT) is a hard bounce.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import unquote, urlsplit

import aiosmtplib

from drumbeat.platform.actions import Outcome, Target

#: RCPT replies meaning the mailbox does not exist or will never accept mail.
HARD_BOUNCE_CODES = frozenset({550, 551, 553})


@dataclass(frozen=True)
class Envelope:
    target: Target
    sender: str
    recipient: str
    message_id: str
    data: bytes


@dataclass(frozen=True)
class SendResult:
    """A delivery's outcome; ``hard_bounce`` when the server refused its mailbox."""

    outcome: Outcome
    hard_bounce: bool = False


class SmtpTransport:
    def __init__(self, url: str, connections: int):
        parts = urlsplit(url)
        self.hostname = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.use_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.connections = connections

    async def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        lanes = [list(envelopes[i::self.connections]) for i in range(self.connections)]
        results = await asyncio.gather(*(self._send_lane(lane) for lane in lanes if lane))
        return [result for lane in results for result in lane]

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname, port=self.port, use_tls=self.use_tls,
            username=self.username, password=self.password, timeout=30,
        )

    async def _send_lane(self, envelopes: list[Envelope]) -> list[SendResult]:
        outcomes: list[SendResult] = []
        client: aiosmtplib.SMTP | None = None
        try:
            for envelope in envelopes:
                if client is None:
                    try:
                        client = self._client()
                        await client.connect()
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        client = None
                        outcomes.append(SendResult(Outcome.retry(envelope.target, f"SMTP connect: {exc}")))
                        continue
                outcome, usable = await self._send_one(client, envelope)
                outcomes.append(outcome)
                if not usable:
                    client.close()
                    client = None
        finally:
            if client is not None:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        return outcomes

    async def _send_one(self, client: aiosmtplib.SMTP, envelope: Envelope) -> tuple[SendResult, bool]:
        """Send one message; returns its result and whether the session is still usable."""
        target = envelope.target
        try:
            errors, _ = await client.sendmail(envelope.sender, [envelope.recipient], envelope.data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal else 550
            await _reset(client)
            reason = f"{code} {refusal.message}" if refusal else str(exc)
            return _by_code(target, code, f"RCPT {reason}", on_rcpt=True), True
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            return _by_code(target, exc.code, f"{exc.code} {exc.message}"), True
        except (aiosmtplib.SMTPException, OSError) as exc:  # lost connection, timeout
            return SendResult(Outcome.retry(target, f"SMTP: {type(exc).__name__}: {exc}")), False
        if errors:
            code, message = next(iter(errors.values()))
            return _by_code(target, code, f"RCPT {code} {message}", on_rcpt=True), True
        return SendResult(Outcome.done(target, envelope.message_id)), True


def _by_code(target: Target, code: int, reason: str, on_rcpt: bool = False) -> SendResult:
    if 400 <= code < 500:
        return SendResult(Outcome.retry(target, f"SMTP {reason}"))
    return SendResult(Outcome.failed(target, f"SMTP {reason}"),
                  hard_bounce=on_rcpt and code in HARD_BOUNCE_CODES)


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        pass


class OutboxTransport:
    """Writes each message to ``<folder>/<message-id>.eml`` — a resend overwrites its file."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    async def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        return await asyncio.to_thread(self._write_all, envelopes)

    def _write_all(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        outcomes = []
        for envelope in envelopes:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", envelope.message_id.strip("<>"))
            path = self.folder / f"{name}.eml"
            tmp = path.with_suffix(".tmp")
            try:
                tmp.write_bytes(envelope.data)
                os.replace(tmp, path)
            except OSError as exc:
                outcomes.append(SendResult(Outcome.retry(envelope.target, f"outbox: {exc}")))
                continue
            outcomes.append(SendResult(Outcome.done(envelope.target, envelope.message_id)))
        return outcomes


def transport_for(url: str, connections: int):
    if url.startswith("outbox://"):
        return OutboxTransport(url[len("outbox://"):] or "./outbox")
    return SmtpTransport(url, connections)
