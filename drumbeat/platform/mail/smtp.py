"""Sending a batch over SMTP through the process's session pool, under the transport's
limits.

Up to ``connections`` lanes take envelopes from the batch in turn, each on a pooled
session. A connection-level failure — refused, reset, a timeout, a 421 — defers a
delivery (``Outcome.deferred``: retried without using an attempt while the outage lasts
less than ``DRUMBEAT_OUTAGE_WINDOW_SECONDS``); another 4xx reply makes it retryable (the
platform backs off, an attempt used); a 5xx reply fails it with the server's code and text, and the rest of
the batch goes on. A refused mailbox (550/551/553 on RCPT) is a hard bounce. A session
reused from the pool that turns out dead before the message's content was written is
reconnected and the message sent in place (the server cannot have accepted it, so nothing
is sent twice). Under ``DRUMBEAT_SMTP_RATE`` the lanes take their turns from one
:class:`~drumbeat.platform.mail.rate_limit.Pacer`; what cannot get a turn within
``DRUMBEAT_SMTP_MAX_WAIT_SECONDS`` is retried later, unsent, without using up an attempt.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, Sequence

import aiosmtplib

from drumbeat.platform.actions import Outcome, Target
from drumbeat.platform.mail.envelope import Envelope, SendResult
from drumbeat.platform.mail.pool import Session, SmtpPool, SmtpServer
from drumbeat.platform.mail.rate_limit import Pacer, RateDeferred
from drumbeat.platform.mail.session import Refused, SessionLost, SmtpSession

#: RCPT replies meaning the mailbox does not exist or will never accept mail.
HARD_BOUNCE_CODES = frozenset({550, 551, 553})
#: Errors of a lost or unusable session (not a reply of the server).
_LOST = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)


class SmtpTransport:
    def __init__(self, url: str, connections: int,
                 pool: Callable[[SmtpServer], SmtpPool] | None = None):
        self.server = SmtpServer.from_url(url)
        self.connections = connections
        self._pool = pool

    def pool(self) -> SmtpPool:
        from drumbeat.platform.mail.transport import default_pool

        return (self._pool or default_pool)(self.server)

    async def send(self, envelopes: Sequence[Envelope], progress=None) -> list[SendResult]:
        """Send ``envelopes``; with ``progress`` (``ActionContext.progress``) each message
        is handed out only when ``progress.may_send`` allows it, and each result is
        reported as soon as the server answered."""
        if not envelopes:
            return []
        pool = self.pool()
        limits = pool.limits
        pacer = Pacer(limits, len(envelopes)) if limits is not None and limits.rate > 0 else None
        queue = deque(enumerate(envelopes))
        results: list[SendResult | None] = [None] * len(envelopes)
        why: list[str] = []
        deferred: list[float] = []
        broken: list[bool] = []  # a lane lost the server (not merely held back by the limits)

        async def lane(first: bool) -> None:
            session: Session | None = None
            try:
                while queue:
                    if session is None:
                        try:
                            session = await pool.take(wait=first)
                        except _LOST as exc:
                            why.append(f"SMTP connect: {exc}")
                            broken.append(True)
                            return
                        if session is None:
                            why.append("no free SMTP connection slot (DRUMBEAT_SMTP_MAX_CONNECTIONS)")
                            return
                        if not queue:  # the other lanes sent the rest meanwhile
                            break
                    index, envelope = queue.popleft()
                    if progress is not None and not await progress.may_send(envelope.target):
                        results[index] = SendResult(progress.not_sent(envelope.target))
                        continue
                    if pacer is not None:
                        try:
                            await pacer.turn()
                        except RateDeferred as exc:
                            queue.appendleft((index, envelope))
                            why.append(str(exc))
                            deferred.append(exc.after)
                            return
                    results[index], usable = await self._deliver(session, envelope)
                    if progress is not None:
                        progress.report(results[index].outcome)
                    if not usable:
                        await pool.discard(session)
                        session = None
            except BaseException:
                if session is not None:  # e.g. cancelled mid-message: never reuse it
                    pool.drop(session)
                    session = None
                raise
            finally:
                if session is not None:
                    pool.give_back(session)

        lanes = min(self.connections, len(envelopes))
        await asyncio.gather(*(lane(k == 0) for k in range(lanes)))
        after = max(deferred) if deferred else None
        # Held back by the rate or connection limits alone, or the server unreachable: not
        # the message's fault, so the retry uses up none of its attempts.
        for index, envelope in queue:
            reason = why[-1] if why else "SMTP: not sent"
            results[index] = SendResult(
                Outcome.deferred(envelope.target, reason) if broken
                else Outcome.retry(envelope.target, reason, after=after, counts=False))
        return [r for r in results if r is not None]

    async def _deliver(self, session: Session, envelope: Envelope) -> tuple[SendResult, bool]:
        """Send one message; returns its result and whether the session is still usable."""
        while True:
            result, usable, before_data = await _send_one(session.connection, envelope)
            if usable or not before_data or not session.reused:
                return result, usable
            session.reused = False  # dead while idle in the pool: reconnect, send again
            session.connection.close()
            try:
                session.connection = await SmtpSession.open(self.server.client())
            except _LOST as exc:
                return SendResult(Outcome.deferred(envelope.target, f"SMTP connect: {exc}")), False


async def _send_one(connection: SmtpSession, envelope: Envelope
                    ) -> tuple[SendResult, bool, bool]:
    """One transaction: (result, session still usable, lost before the content was sent)."""
    target = envelope.target
    try:
        await connection.send(envelope.sender, envelope.recipient, envelope.data)
    except Refused as exc:
        usable = exc.code != 421 and await connection.reset()
        on_rcpt = exc.stage == "RCPT"
        reason = f"{'RCPT ' if on_rcpt else ''}{exc.code} {exc.text}"
        return _by_code(target, exc.code, reason, on_rcpt=on_rcpt), usable, False
    except SessionLost as exc:
        return (SendResult(Outcome.deferred(target, f"SMTP: {exc}")), False, exc.before_data)
    except ValueError as exc:  # an address that cannot go on the wire (nothing was sent)
        return SendResult(Outcome.failed(target, f"SMTP: {exc}")), True, False
    except _LOST as exc:
        return (SendResult(Outcome.deferred(target, f"SMTP: {type(exc).__name__}: {exc}")),
                False, False)
    return SendResult(Outcome.done(target, envelope.message_id)), True, False


def _by_code(target: Target, code: int, reason: str, on_rcpt: bool = False) -> SendResult:
    if code == 421:  # the server is shutting the session down: an outage, not the message
        return SendResult(Outcome.deferred(target, f"SMTP {reason}"))
    if 400 <= code < 500:
        return SendResult(Outcome.retry(target, f"SMTP {reason}"))
    return SendResult(Outcome.failed(target, f"SMTP {reason}"),
                      hard_bounce=on_rcpt and code in HARD_BOUNCE_CODES)
