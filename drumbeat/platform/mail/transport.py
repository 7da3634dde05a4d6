"""Where built messages go: an SMTP server (``smtp.SmtpTransport``, pooled sessions and
shared limits) or an outbox folder of .eml files.

``open_platform`` binds the process's database and settings to its event loop
(:func:`bind_mail`), so that every SMTP transport made on that loop shares one session
pool per server and the limits ``DRUMBEAT_SMTP_RATE`` / ``DRUMBEAT_SMTP_MAX_CONNECTIONS``
across processes; ``Platform.close`` calls :func:`close_mail`.
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from drumbeat.platform.actions import Outcome
from drumbeat.platform.mail.envelope import Envelope, SendResult
from drumbeat.platform.mail.pool import SmtpPool, SmtpServer, close_pools, pool_for
from drumbeat.platform.mail.rate_limit import SendLimits
from drumbeat.platform.mail.smtp import HARD_BOUNCE_CODES, SmtpTransport

__all__ = ["Envelope", "SendResult", "SmtpTransport", "OutboxTransport", "HARD_BOUNCE_CODES",
           "transport_for", "bind_mail", "close_mail"]

#: Seconds an idle pooled session stays open without ``bind_mail`` settings.
DEFAULT_IDLE_SECONDS = 30.0


@dataclass
class _Binding:
    db: Any  # drumbeat.platform.database.Database
    settings: Any  # drumbeat.settings.Settings
    limits: dict[str, SendLimits] = field(default_factory=dict)

    def limits_for(self, server: SmtpServer) -> SendLimits | None:
        settings = self.settings
        if not settings.smtp_rate and not settings.smtp_max_connections:
            return None
        limits = self.limits.get(server.key)
        if limits is None:
            limits = self.limits[server.key] = SendLimits(
                self.db, server.key, rate=settings.smtp_rate,
                max_connections=settings.smtp_max_connections,
                max_wait=settings.smtp_max_wait_seconds)
        return limits


_bindings: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Binding]" = (
    weakref.WeakKeyDictionary())


def bind_mail(db, settings) -> None:
    """Use ``db`` for the send limits of transports on the running loop (``open_platform``)."""
    _bindings[asyncio.get_running_loop()] = _Binding(db, settings)


async def close_mail(db=None) -> None:
    """Close the running loop's SMTP sessions and forget its binding (to ``db``, if given)."""
    loop = asyncio.get_running_loop()
    binding = _bindings.get(loop)
    if binding is not None and (db is None or binding.db is db):
        del _bindings[loop]
    await close_pools()


def default_pool(server: SmtpServer) -> SmtpPool:
    """The running loop's pool for ``server``, with the bound limits."""
    binding = _bindings.get(asyncio.get_running_loop())
    if binding is None:
        return pool_for(server, DEFAULT_IDLE_SECONDS, None)
    return pool_for(server, binding.settings.smtp_idle_seconds, binding.limits_for(server))


class OutboxTransport:
    """Writes each message to ``<folder>/<message-id>.eml`` — a resend overwrites its file."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    async def send(self, envelopes: Sequence[Envelope], progress=None) -> list[SendResult]:
        if progress is None:
            return await asyncio.to_thread(self._write_all, envelopes)
        results = []
        for envelope in envelopes:  # one by one, through the chunk's gate
            if not await progress.may_send(envelope.target):
                results.append(SendResult(progress.not_sent(envelope.target)))
                continue
            [result] = await asyncio.to_thread(self._write_all, [envelope])
            progress.report(result.outcome)
            results.append(result)
        return results

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
    """The transport of ``url``: ``outbox://folder`` or ``smtp(s)://[user:pass@]host[:port]``
    sending a batch over up to ``connections`` pooled sessions."""
    if url.startswith("outbox://"):
        return OutboxTransport(url[len("outbox://"):] or "./outbox")
    return SmtpTransport(url, connections)
