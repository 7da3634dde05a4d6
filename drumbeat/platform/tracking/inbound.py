"""Inbound webhooks: replies, bounces, deliveries and complaints reported by the mail
provider (or a small script on the mail server) to ``POST /webhooks/inbound``.

Authentication: header ``Drumbeat-Signature: kid=<kid>,t=<unix seconds>,v1=<sig>`` where
``sig`` is base64url(HMAC-SHA256(webhook key, "<t>." + raw body)) and the webhook key of a
``DRUMBEAT_SECRET_KEYS`` entry is HMAC-SHA256(its secret, "drumbeat-inbound-webhook") —
so keys rotate exactly like tracking tokens (a rotated-out key verifies until its date).
A signature older or newer than ``TOLERANCE_SECONDS`` is refused (no replays).

Body (JSON): ``{"id": provider event id, "type": "DELIVERED" | "REPLIED" | "BOUNCED" |
"COMPLAINED", "messageId": the Message-ID we sent (from In-Reply-To or the DSN) — or
"token": a webhook token (``EmailTracking.webhook_token``, for VERP set-ups) —,
"bounce": "HARD" | "SOFT" (BOUNCED), "detail": text}``. Each provider event id is handled
once (providers retry): a repeat answers ``duplicate`` and changes nothing.

Effects: an event on the delivery (REPLIED, DELIVERED, BOUNCED; a complaint is recorded as
UNSUBSCRIBED with detail "complaint"). A hard bounce puts the address on the suppression
list (contacts marked bounced) and skips its pending deliveries with ``BOUNCED``; a
complaint suppresses it with ``COMPLAINT``, unsubscribes its contacts and skips them with
``UNSUBSCRIBED``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from drumbeat.platform import bounded_json
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.ledger import skip_pending_to, utcnow
from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SkipReason, SuppressionReason
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.events import store_event
from drumbeat.platform.tracking.tokens import Keyring

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 64_000
TYPES = ("DELIVERED", "REPLIED", "BOUNCED", "COMPLAINED")
_KEY_LABEL = b"drumbeat-inbound-webhook"


class InboundError(Exception):
    """The request is refused: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class InboundEvent:
    id: str
    type: str
    message_id: str | None
    token: str | None
    hard_bounce: bool
    detail: str


def webhook_key(secret: bytes, label: bytes = _KEY_LABEL) -> bytes:
    """The key a ``DRUMBEAT_SECRET_KEYS`` secret gives for one kind of signed request
    (``label``: inbound webhooks, triggers …), so one kind's signature is no other's."""
    return hmac.new(secret, label, hashlib.sha256).digest()


def sign(keyring: Keyring, body: bytes, at: int | None = None, label: bytes = _KEY_LABEL) -> str:
    """The ``Drumbeat-Signature`` header for ``body`` with the current key (for senders
    and tests)."""
    at = int(time.time()) if at is None else at
    key = keyring.current
    return f"kid={key.kid},t={at},v1={_mac(webhook_key(key.secret, label), at, body)}"


def verify(keyring: Keyring, header: str | None, body: bytes, now: float | None = None,
           label: bytes = _KEY_LABEL) -> None:
    """Raise :class:`InboundError` (401) unless ``header`` signs ``body`` with a live key
    (for ``label``) within the time tolerance."""
    fields = {}
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    kid, stamp, signature = fields.get("kid"), fields.get("t", ""), fields.get("v1", "")
    key = keyring.keys.get(kid or "")
    if key is None or not stamp.isdigit() or not signature:
        raise InboundError(401, "missing or malformed Drumbeat-Signature")
    current = time.time() if now is None else now
    if key.expires is not None and current >= key.expires.timestamp():
        raise InboundError(401, "the signing key has expired")
    if abs(current - int(stamp)) > TOLERANCE_SECONDS:
        raise InboundError(401, "the signature's timestamp is too old or in the future")
    expected = _mac(webhook_key(key.secret, label), int(stamp), body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InboundError(401, "bad signature")


def parse(body: bytes) -> InboundEvent:
    """The event in ``body``, or :class:`InboundError` (400) naming what is wrong."""
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InboundError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise InboundError(400, "the body is not a JSON object")
    event_id, kind = data.get("id"), data.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200:
        raise InboundError(400, "id: the provider's event id (1–200 characters) is required")
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


async def handle(platform, keyring: Keyring, event: InboundEvent) -> str:
    """Apply ``event``: ``recorded`` or ``duplicate``; :class:`InboundError` (404) when no
    delivery matches."""
    db = platform.db
    delivery = await _delivery(db, keyring, event)
    if delivery is None:
        raise InboundError(404, "no delivery with that messageId or token")
    address = (delivery["address"] or "").strip().lower()
    messages, campaigns = [], []
    async with db.transaction():
        first = await db.fetch(
            "INSERT INTO drumbeat_inbound_event (event_id, received_at) VALUES ({}, {})"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id", event.id, utcnow())
        if not first:
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


def _mac(key: bytes, at: int, body: bytes) -> str:
    digest = hmac.new(key, str(at).encode("ascii") + b"." + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
