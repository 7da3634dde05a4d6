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
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.tracking import frames
from drumbeat.schema.campaign_channel import campaign_channel
from drumbeat.schema.context import Info
from drumbeat.schema.shared_results import Lru, shareable

EventType = strawberry.enum(EventTypeEnum, name="EventType",
                            description="What happened to a delivery.")
SHARED_KEPT = 512  # live events whose CampaignEvent is shared by the subscribers


_NODE_TYPES = {"contact": "Contact", "company": "Company", "lead": "Lead"}


@strawberry.type(description="Who a delivery addressed.")
class EventRecipient:
    id: relay.GlobalID = strawberry.field(description="The Contact, Company or Lead.")
    kind: str = strawberry.field(description="contact, company or lead.")
    name: str = strawberry.field(description="Their name (a company's, or first and last).")
    address: str | None = strawberry.field(description="Where the delivery went (when known).")

    @classmethod
    def of(cls, m: dict | None) -> "EventRecipient | None":
        if m is None:
            return None
        return cls(id=relay.GlobalID(_NODE_TYPES.get(m["kind"], "Contact"), str(m["id"])),
                   kind=m["kind"], name=m["name"], address=m["address"])


@strawberry.type(description="A workflow step: one action within a workflow state.")
class EventStep:
    id: int = strawberry.field(description="The step's id (see Campaign.steps).")
    name: str = strawberry.field(description="The name of the workflow state it belongs to.")
    state_key: str = strawberry.field(description="That state's key (empty for a quick "
                                                  "campaign).")
    action_type: str

    @classmethod
    def of(cls, m: dict | None) -> "EventStep | None":
        if m is None:
            return None
        return cls(id=m["id"], name=m["name"], state_key=m["stateKey"],
                   action_type=m["actionType"])


@shareable  # plain values only: the same result for every subscriber
@strawberry.type(description="One event of a campaign's delivery, in id order: the same "
                             "fields live and replayed.")
class CampaignEvent:
    id: int = strawberry.field(description="The event's id: increasing within a run.")
    type: EventType
    delivery_id: int | None = strawberry.field(description="The delivery's ledger id.")
    address: str | None = strawberry.field(description="Where the delivery went (when known).")
    detail: str = strawberry.field(description="The clicked URL, a bounce reason, an error, "
                                               "a skip reason, …")
    reason: str | None = strawberry.field(description=(
        "Why: a FAILED delivery's error, a SKIPPED one's skip reason (e.g. UNSUBSCRIBED), a "
        "DEFERRED one's error; null for other events."))
    retry_at: datetime | None = strawberry.field(
        description="DEFERRED: when the delivery is tried again.")
    recipient: EventRecipient | None = strawberry.field(
        description="Who the delivery addressed (null for an event of no delivery).")
    step: EventStep | None = strawberry.field(description="The step the delivery belongs to.")
    action_type: str | None = strawberry.field(description="The step's action type.")
    created_at: datetime
    missed: int = strawberry.field(
        description="Events dropped just before this one because the client fell behind.")

    @classmethod
    def from_message(cls, m: dict, missed: int = 0) -> "CampaignEvent":
        kind = EventTypeEnum(m["event"])
        return cls(id=m["id"], type=kind, delivery_id=m.get("deliveryId"),
                   address=m.get("address"), detail=m.get("detail") or "",
                   reason=(m.get("detail") or "") if kind.value in WITH_REASON else None,
                   retry_at=_time(m.get("retryAt")), recipient=EventRecipient.of(m.get("recipient")),
                   step=EventStep.of(m.get("step")), action_type=m.get("actionType"),
                   created_at=_time(m["at"]), missed=missed)

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


WITH_REASON = ("FAILED", "SKIPPED", "DEFERRED")


def _time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


_shared_events = Lru(SHARED_KEPT)  # id(message) -> (message, its CampaignEvent)


def unpack(message: dict) -> list[dict]:
    """The events a channel message carries (none for other messages)."""
    if message.get("type") == "events":
        return message["events"]
    return [message] if message.get("type") == "event" else []


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
                async for event in frames.replay(info.context.platform.db, cid, after, wanted):
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


MAX_RECENT = 500


@strawberry.type
class CampaignEventFields:
    """Fields of ``Campaign`` about its events (``self`` is a ``Campaign``)."""

    @strawberry.field(description=(
        "The newest `last` events (1–500, default 100; only the given types, if any), "
        "oldest first — the frames `campaignEvents` gives, for a dashboard to show on load "
        "before subscribing with `after:` the last id."))
    async def recent_events(self, info: Info, last: int = 100,
                            types: list[EventType] | None = None) -> list[CampaignEvent]:
        if not 1 <= last <= MAX_RECENT:
            raise DomainError.one(f"Ask for 1 to {MAX_RECENT} events.", ErrorCode.INVALID,
                                  ["last"])
        wanted = {EventTypeEnum(t).value for t in types} if types else None
        return [CampaignEvent.from_message(m) for m in
                await frames.recent(info.context.platform.db, self.id, last, wanted)]
