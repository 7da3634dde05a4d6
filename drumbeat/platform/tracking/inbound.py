"""Inbound webhooks: replies, bounces, deliveries and complaints reported by the mail
provider (or a small script on the mail server) to ``POST /webhooks/inbound``.

Authentication: header ``Drumbeat-Signature: kid=<kid>,t=<unix seconds>,v2=<hex>`` over
``v2:<t>:POST:/webhooks/inbound:<raw body>`` with the ``inbound`` signing key — the scheme
of :mod:`drumbeat.platform.tracking.signed_requests` (a signature more than 5 minutes off
is refused).

Body (JSON): ``{"id": provider event id, "type": "DELIVERED" | "REPLIED" | "BOUNCED" |
"COMPLAINED", "messageId": the Message-ID we sent (from In-Reply-To or the DSN) — or
"token": a webhook token (``EmailTracking.webhook_token``, for VERP set-ups) —,
"bounce": "HARD" | "SOFT" (BOUNCED), "detail": text}``. Each provider event id
(``signed_requests.event_id``) is handled once (providers retry;
:mod:`drumbeat.platform.tracking.inbound_ids`): a repeat answers ``duplicate`` and
changes nothing.

Effects: an event on the delivery (REPLIED, DELIVERED, BOUNCED; a complaint is recorded as
UNSUBSCRIBED with detail "complaint"). A hard bounce puts the address on the suppression
list (contacts marked bounced) and skips its pending deliveries with ``BOUNCED``; a
complaint suppresses it with ``COMPLAINT``, unsubscribes its contacts and skips them with
``UNSUBSCRIBED``.
"""

from __future__ import annotations

from dataclasses import dataclass

from drumbeat.platform import bounded_json
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.ledger_sweeps import skip_pending_to
from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SkipReason, SuppressionReason
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking import inbound_ids, signed_requests
from drumbeat.platform.tracking.events import store_event
from drumbeat.platform.tracking.signed_requests import TOLERANCE_SECONDS, InboundError
from drumbeat.platform.tracking.tokens import Keyring

__all__ = ["InboundError", "TOLERANCE_SECONDS", "handle", "parse", "sign", "verify"]

MAX_BODY_BYTES = 64_000
TYPES = ("DELIVERED", "REPLIED", "BOUNCED", "COMPLAINED")
PATH = "/webhooks/inbound"
KIND = "inbound"


@dataclass(frozen=True)
class InboundEvent:
    id: str
    type: str
    message_id: str | None
    token: str | None
    hard_bounce: bool
    detail: str


def sign(keyring: Keyring, body: bytes, at: int | None = None, path: str = PATH) -> str:
    """The ``Drumbeat-Signature`` header of ``POST path`` with ``body`` (for Python senders
    and tests)."""
    return signed_requests.sign(keyring, KIND, "POST", path, body, at)


def verify(keyring: Keyring, header: str | None, body: bytes, now: float | None = None,
           method: str = "POST", path: str = PATH) -> int:
    """The signature's timestamp, or :class:`InboundError` (401) unless ``header`` signs
    ``method path`` with ``body`` as an inbound webhook."""
    return signed_requests.verify(keyring, KIND, header, method, path, body, now)


def parse(body: bytes) -> InboundEvent:
    """The event in ``body``, or :class:`InboundError` (400) naming what is wrong."""
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InboundError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise InboundError(400, "the body is not a JSON object")
    event_id, kind = signed_requests.event_id(data.get("id")), data.get("type")
    if kind not in TYPES:
        raise InboundError(400, f"type: one of {', '.join(TYPES)}")
    message_id, token = data.get("messageId"), data.get("token")
    if not isinstance(message_id, str) and not isinstance(token, str):
        raise InboundError(400, "messageId or token: which delivery the event is about")
    bounce = data.get("bounce", "HARD")
    if kind == "BOUNCED" and bounce not in ("HARD", "SOFT"):
        raise InboundError(400, "bounce: HARD or SOFT")
    detail = data.get("detail", "")
    if not isinstance(detail, str):
        raise InboundError(400, "detail: text")
    return InboundEvent(event_id, kind, message_id if isinstance(message_id, str) else None,
                        token if isinstance(token, str) else None,
                        kind == "BOUNCED" and bounce == "HARD", detail[:4000])


async def handle(platform, keyring: Keyring, event: InboundEvent, signed_at: float) -> str:
    """Apply ``event``: ``recorded`` or ``duplicate`` (its id was applied before — claimed
    in the transaction that applies it); :class:`InboundError` (404) when no delivery
    matches."""
    db = platform.db
    delivery = await _delivery(db, keyring, event)
    if delivery is None:
        raise InboundError(404, "no delivery with that messageId or token")
    address = (delivery["address"] or "").strip().lower()
    messages, campaigns = [], []
    async with db.transaction():
        if not await inbound_ids.claim(db, inbound_ids.INBOUND_SCOPE, event.id, signed_at):
            return "duplicate"
        kind, detail = _recorded_as(event)
        messages.append(await store_event(db, delivery["campaign"], delivery["id"], kind, detail))
        if address and event.hard_bounce:
            await suppress(db, address, SuppressionReason.HARD_BOUNCE, detail)
            campaigns, skipped = await skip_pending_to(db, address, SkipReason.BOUNCED.value)
            messages += skipped
        elif address and event.type == "COMPLAINED":
            await suppress(db, address, SuppressionReason.COMPLAINT, detail)
            await db.execute("UPDATE drumbeat_contact SET unsubscribed = {}"
                             " WHERE email = {} AND NOT unsubscribed", True, address)
            campaigns, skipped = await skip_pending_to(db, address,
                                                       SkipReason.UNSUBSCRIBED.value)
            messages += skipped
    for message in messages:
        await platform.publish(message["campaignId"], message)
    for campaign_id in campaigns:
        await platform.publish(campaign_id, {"type": "progress"})
        await complete_finished(platform, campaign_id)
    return "recorded"


def _recorded_as(event: InboundEvent) -> tuple[EventType, str]:
    """The ledger event for ``event``: a complaint is an UNSUBSCRIBED event; a bounce's
    detail starts with hard/soft."""
    prefix = {"COMPLAINED": "complaint",
              "BOUNCED": "hard" if event.hard_bounce else "soft"}.get(event.type)
    detail = event.detail
    if prefix:
        detail = f"{prefix}: {detail}" if detail else prefix
    kind = EventType.UNSUBSCRIBED if event.type == "COMPLAINED" else EventType(event.type)
    return kind, detail


async def _delivery(db, keyring: Keyring, event: InboundEvent) -> dict | None:
    if event.token is not None:
        claims = keyring.verify(event.token, "webhook")
        if claims is None:
            return None
        return await db.fetchrow("SELECT id, campaign, address FROM drumbeat_delivery"
                                 " WHERE id = {}", claims.delivery_id)
    message_id = event.message_id.strip()
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    return await db.fetchrow("SELECT id, campaign, address FROM drumbeat_delivery"
                             " WHERE message_id = {} AND state = 'done'", message_id[:998])

