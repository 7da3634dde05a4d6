"""What a recipient's click, open or unsubscribe does to the ledger.

Unsubscribing is final and global: the address goes on the suppression list (reason
``UNSUBSCRIBED``), the contacts with that email are marked unsubscribed, and the address's
pending deliveries are skipped with reason ``UNSUBSCRIBED`` at once. A delivery already
claimed by a worker is stopped by the send-time suppression check (it fails with
``SUPPRESSED (UNSUBSCRIBED)``). Deliveries already sent keep their final state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.ledger_sweeps import skip_pending_to
from drumbeat.platform.suppression import suppress
from drumbeat.platform.tables.deliveries import SkipReason, SuppressionReason
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.tracking.events import record_event, store_event, suspected_bot


@dataclass(frozen=True)
class Visit:
    """Who hit a tracking URL: the request method, the client hash and its user agent."""

    method: str
    client: str
    user_agent: str


@dataclass(frozen=True)
class DeliveryRef:
    id: int
    campaign_id: int
    address: str | None
    sent_at: datetime | None


async def delivery(db, delivery_id: int) -> DeliveryRef | None:
    row = await db.fetchrow(
        "SELECT id, campaign, address, finished_at FROM drumbeat_delivery WHERE id = {}",
        delivery_id)
    if row is None:
        return None
    sent = row["finished_at"]
    if isinstance(sent, str):
        sent = datetime.fromisoformat(sent)
    return DeliveryRef(row["id"], row["campaign"], row["address"], sent)


async def tracked_url(db, delivery_id: int, index: int) -> str | None:
    return await db.fetchval(
        "SELECT url FROM drumbeat_tracked_link WHERE delivery = {} AND idx = {}",
        delivery_id, index)


async def record_hit(platform, ref: DeliveryRef, type: EventType, visit: Visit,
                     detail: str = "") -> None:
    bot = suspected_bot(visit.method, visit.user_agent, ref.sent_at)
    await record_event(platform, ref.campaign_id, ref.id, type, detail,
                       client=visit.client, suspected_bot=bot)


async def unsubscribe(platform, ref: DeliveryRef, visit: Visit) -> None:
    """Unsubscribe the delivery's address (idempotent: a second POST records nothing)."""
    db = platform.db
    address = (ref.address or "").strip().lower()
    messages, campaigns = [], []
    async with db.transaction():
        already = await db.fetchval(
            "SELECT 1 FROM drumbeat_delivery_event WHERE delivery = {} AND type = {}",
            ref.id, EventType.UNSUBSCRIBED.value)
        if not already:
            messages.append(await store_event(db, ref.campaign_id, ref.id,
                                              EventType.UNSUBSCRIBED, client=visit.client))
        if address:
            await suppress(db, address, SuppressionReason.UNSUBSCRIBED, "List-Unsubscribe")
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
