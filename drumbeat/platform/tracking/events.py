"""The event ledger: ``record_event`` stores one event of a delivery and publishes it on
the campaign's channel as ``{"type": "event", ...}``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from drumbeat.platform.ledger import utcnow
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.frames import frames

#: User agents of image proxies and link scanners: their hits are recorded, but marked.
KNOWN_SCANNERS = ("googleimageproxy", "yahoomailproxy", "bot", "spider", "crawler",
                  "preview", "scanner", "safelinks", "proofpoint", "barracuda", "mimecast")
#: A hit this soon after the message was sent is taken for a scanner, not a person.
SCANNER_WINDOW_SECONDS = 2.0


def suspected_bot(method: str, user_agent: str, sent_at: datetime | None,
                  now: datetime | None = None) -> bool:
    """The documented rule: a HEAD request, a known scanner's user agent, or a hit within
    ``SCANNER_WINDOW_SECONDS`` of sending."""
    if method.upper() == "HEAD":
        return True
    agent = user_agent.lower()
    if any(name in agent for name in KNOWN_SCANNERS):
        return True
    if sent_at is None:
        return False
    return ((now or utcnow()) - sent_at).total_seconds() < SCANNER_WINDOW_SECONDS


def client_hash(secret: str, ip: str, user_agent: str) -> str:
    """A keyed hash of the client's address and agent (tells clients apart, stores neither)."""
    return hmac.new(secret.encode(), f"{ip}|{user_agent}".encode(),
                    hashlib.sha256).hexdigest()[:32]


async def store_event(db, campaign_id: int, delivery_id: int | None, type: EventType,
                      detail: str = "", *, client: str | None = None,
                      suspected_bot: bool = False) -> dict:
    """Insert the event (in the caller's transaction, if any); returns its frame, the
    message that announces it (publish it once committed)."""
    at, kind, detail = utcnow(), EventType(type).value, detail[:4000]
    event_id = await db.fetchval(
        "INSERT INTO drumbeat_delivery_event"
        " (campaign, delivery, type, detail, client_hash, suspected_bot, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
        campaign_id, delivery_id, kind, detail, client, suspected_bot, at)
    return (await frames(db, [event_id]))[0]


async def record_event(platform, campaign_id: int, delivery_id: int | None, type: EventType,
                       detail: str = "", *, client: str | None = None,
                       suspected_bot: bool = False) -> int:
    """Store the event and publish it on the campaign's channel; returns its id."""
    message = await store_event(platform.db, campaign_id, delivery_id, type, detail,
                                client=client, suspected_bot=suspected_bot)
    await platform.publish(campaign_id, message)
    return message["id"]
