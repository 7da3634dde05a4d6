"""``campaignEvents``: each event of a campaign's deliveries as it happens, optionally after
a replay of the ledger from a given event id.

Events come off the campaign channel (one ``event`` message, or an ``events`` batch per
recorded chunk). A client that falls behind loses the oldest queued events, never slows a
worker, and the next event it gets reports how many it missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import AsyncGenerator

import strawberry
from strawberry import relay

from drumbeat.platform.tables.tracking import EventType as EventTypeEnum
from drumbeat.schema.campaign_channel import campaign_channel
from drumbeat.schema.context import Info
from drumbeat.schema.shared_results import Lru, shareable

EventType = strawberry.enum(EventTypeEnum, name="EventType",
                            description="What happened to a delivery.")
REPLAY_PAGE = 500
SHARED_KEPT = 512  # live events whose CampaignEvent is shared by the subscribers


@shareable  # plain values only: the same result for every subscriber
@strawberry.type(description="One event of a campaign's delivery, in id order.")
class CampaignEvent:
    id: int = strawberry.field(description="The event's id: increasing within a run.")
    type: EventType
    delivery_id: int | None = strawberry.field(description="The delivery's ledger id.")
    address: str | None = strawberry.field(description="Where the delivery went (when known).")
    detail: str = strawberry.field(description="The clicked URL, a bounce reason, …")
    created_at: datetime
    missed: int = strawberry.field(
        description="Events dropped just before this one because the client fell behind.")

    @classmethod
    def from_message(cls, m: dict, missed: int = 0) -> "CampaignEvent":
        at = m["at"]
        return cls(id=m["id"], type=EventTypeEnum(m["event"]), delivery_id=m.get("deliveryId"),
                   address=m.get("address"), detail=m.get("detail") or "",
                   created_at=datetime.fromisoformat(at) if isinstance(at, str) else at,
                   missed=missed)

    @classmethod
    def shared(cls, m: dict) -> "CampaignEvent":
        """The one ``CampaignEvent`` (``missed`` 0) of a live event message: the bus hands
        every subscriber the same message, so they yield the same object and their
        executions and frames are shared (drumbeat/schema/shared_results.py)."""
        kept = _shared_events.get(id(m))
        if kept is None or kept[0] is not m:
            kept = (m, cls.from_message(m))
            _shared_events.put(id(m), kept)
        return kept[1]


_shared_events = Lru(SHARED_KEPT)  # id(message) -> (message, its CampaignEvent)


def unpack(message: dict) -> list[dict]:
    """The events a channel message carries (none for other messages)."""
    if message.get("type") == "events":
        return message["events"]
    return [message] if message.get("type") == "event" else []


async def _replay(db, campaign_id: int, after: int, types: set[str] | None
                  ) -> AsyncGenerator[dict, None]:
    """The campaign's events with an id above ``after``, from the ledger, page by page."""
    kinds = sorted(types) if types else [t.value for t in EventTypeEnum]
    marks = ", ".join("{}" for _ in kinds)
    while True:
        rows = await db.fetch(
            "SELECT e.id, e.type, e.delivery, e.detail, e.created_at, d.address"
            " FROM drumbeat_delivery_event e LEFT JOIN drumbeat_delivery d ON d.id = e.delivery"
            f" WHERE e.campaign = {{}} AND e.id > {{}} AND e.type IN ({marks})"
            " ORDER BY e.id LIMIT {}",
            campaign_id, after, *kinds, REPLAY_PAGE)
        for r in rows:
            yield {"id": r["id"], "event": r["type"], "deliveryId": r["delivery"],
                   "address": r["address"], "detail": r["detail"], "at": r["created_at"]}
        if len(rows) < REPLAY_PAGE:
            return
        after = rows[-1]["id"]


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(description=(
        "Each event of the campaign's deliveries as it happens (only the given types, if "
        "any). With `after`, first the recorded events with a greater id, then live ones "
        "with no gap or duplicate. A client that falls behind loses the oldest events; "
        "the next one it gets says how many (`missed`)."))
    async def campaign_events(
        self, info: Info, campaign_id: relay.GlobalID,
        types: list[EventType] | None = None, after: int | None = None,
    ) -> AsyncGenerator[CampaignEvent, None]:
        wanted = {EventTypeEnum(t).value for t in types} if types else None
        async with campaign_channel(info, campaign_id) as (cid, subscription):
            replayed_to = 0
            if after is not None:
                replayed_to = after
                async for event in _replay(info.context.platform.db, cid, after, wanted):
                    replayed_to = event["id"]
                    yield CampaignEvent.from_message(event)
            missed = 0  # dropped events, reported on the next one this client gets
            async for message in subscription:
                missed += message.get("missed", 0)
                for event in unpack(message):
                    if event["id"] > replayed_to and (wanted is None or event["event"] in wanted):
                        yield (CampaignEvent.from_message(event, missed) if missed
                               else CampaignEvent.shared(event))
                        missed = 0
