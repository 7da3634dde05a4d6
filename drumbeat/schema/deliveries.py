"""Every recipient's story in the API: ``Campaign.deliveries`` (a filtered, keyset-paginated
connection of the campaign's ledger rows, each with its recipient, step, state, reason and
times) and the pieces ``recipientJourney`` shows per state entry (its deliveries and their
events). The SQL is in :mod:`drumbeat.platform.delivery_list`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Optional, Sequence

import strawberry
from strawberry import relay

from drumbeat.platform import delivery_list, delivery_tally
from drumbeat.platform.delivery_list import moment
from drumbeat.platform.tracking import frames
from drumbeat.schema.context import Info
from drumbeat.schema.events import CampaignEvent, EventRecipient, EventStep
from drumbeat.schema.pagination import connection, decode_cursor, encode_cursor, page_window

DEFAULT_FIRST = 50


class _State(str, Enum):
    PENDING = "pending"
    IN_PROGRESS = "claimed"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


DeliveryState = strawberry.enum(
    _State, name="DeliveryState",
    description="Where a delivery is: PENDING (waiting to run), IN_PROGRESS (a worker holds "
                "it), DONE, FAILED (for good) or SKIPPED (not run, with a reason).")


@strawberry.input(description="Deliveries matching every given condition.")
class DeliveryFilter:
    state: Optional[DeliveryState] = None
    step_id: Optional[int] = strawberry.field(default=None,
                                              description="A step's id (Campaign.steps).")
    action_type: Optional[str] = strawberry.field(
        default=None, description="Deliveries of steps of this action type (e.g. email).")
    reason: Optional[str] = strawberry.field(default=None, description=(
        "A skip reason, exactly (e.g. UNSUBSCRIBED), or a part of the last error in any "
        "letter case (`%` and `_` match literally); at most 200 characters."))

    def to_platform(self) -> delivery_list.DeliveryFilter:
        return delivery_list.checked(delivery_list.DeliveryFilter(
            state=None if self.state is None else _State(self.state).value,
            step_id=self.step_id, action_type=self.action_type, reason=self.reason))


@strawberry.type(description="One delivery of the campaign (a ledger row): whom it addressed, "
                             "for which step, what became of it and when.")
class CampaignDelivery:
    delivery_id: int = strawberry.field(description="The delivery's ledger id (events' "
                                                    "deliveryId).")
    recipient: EventRecipient
    address: Optional[str] = strawberry.field(description="Where it went (when known).")
    step: EventStep
    action_type: str
    state: DeliveryState
    attempts: int = strawberry.field(description="Times a worker ran it.")
    reason: Optional[str] = strawberry.field(description=(
        "A SKIPPED delivery's skip reason; otherwise the last error, if any (a FAILED "
        "one's error, or the error of an attempt that was retried)."))
    queued_at: datetime = strawberry.field(description="When it was written to the ledger.")
    done_at: Optional[datetime] = strawberry.field(
        description="When it ended DONE or FAILED.")
    first_open_at: Optional[datetime] = strawberry.field(
        description="Its first open not taken for a scanner's.")
    first_click_at: Optional[datetime] = strawberry.field(
        description="Its first click not taken for a scanner's.")
    replied_at: Optional[datetime] = strawberry.field(description="Its first reply.")
    reaction_seconds: Optional[float] = strawberry.field(description=(
        "Seconds from doneAt to the first open, click or reply (not a scanner's) at or "
        "after it."))
    message_id: Optional[str] = strawberry.field(description="The sent message's Message-ID.")
    variant: Optional[str] = strawberry.field(description="The A/B variant it was sent with.")

    @classmethod
    def of(cls, r: dict) -> "CampaignDelivery":
        """From a row of :data:`drumbeat.platform.delivery_list.SELECT`."""
        skipped = r["state"] == "skipped" and r["skip_reason"]
        return cls(
            delivery_id=r["id"],
            recipient=EventRecipient.of({"kind": r["target_kind"], "id": r["target_id"],
                                         "name": r["recipient_name"] or "",
                                         "address": r["address"]}),
            address=r["address"],
            step=EventStep.of({"id": r["step"], "name": r["state_name"] or "",
                               "stateKey": r["state_key"] or "",
                               "actionType": r["action_type"] or ""}),
            action_type=r["action_type"] or "", state=_State(r["state"]),
            attempts=int(r["attempts"] or 0),
            reason=r["skip_reason"] if skipped else r["last_error"],
            queued_at=moment(r["created_at"]), done_at=moment(r["finished_at"]),
            first_open_at=moment(r["first_open_at"]),
            first_click_at=moment(r["first_click_at"]), replied_at=moment(r["replied_at"]),
            reaction_seconds=(None if r["reaction_seconds"] is None
                              else float(r["reaction_seconds"])),
            message_id=r["message_id"], variant=r["variant"])


@strawberry.type(name="CampaignDeliveryConnection",
                 description="A page of a campaign's deliveries, by delivery id.")
class CampaignDeliveryConnection(relay.Connection[CampaignDelivery]):
    campaign_id: strawberry.Private[int] = 0
    applied: strawberry.Private[Optional[delivery_list.DeliveryFilter]] = None

    @strawberry.field(description=(
        "How many deliveries match the filter (every page), from the maintained tally "
        "(no scan of the ledger); null when the filter has an actionType or a reason."))
    async def total_count(self, info: Info) -> Optional[int]:
        f = self.applied
        if f is None or f.action_type is not None or f.reason is not None:
            return None
        db = info.context.platform.db

        async def load(keys):  # one read of the tally per step asked (None: all steps)
            by_step: dict[Optional[int], list[int]] = {}
            for cid, step in keys:
                by_step.setdefault(step, []).append(cid)
            found: dict[tuple, list] = {}
            for step, cids in by_step.items():
                for cell in await delivery_tally.cells(db, cids, step):
                    found.setdefault((cell.campaign, step), []).append(cell)
            return [found.get(key, []) for key in keys]

        cells = await info.context.loader("delivery_tally_cells", load).load(
            (self.campaign_id, f.step_id))
        return sum(c.n for c in cells if f.state is None or c.state == f.state)


@strawberry.type
class CampaignDeliveryFields:
    """Fields of ``Campaign`` about its deliveries (``self`` is a ``Campaign``)."""

    @strawberry.field(description=(
        "The campaign's deliveries by id (oldest first), each with its recipient, step, "
        "state, attempts, reason and times; `first` up to the maximum page size "
        "(DRUMBEAT_MAX_PAGE_SIZE; default 50). Pages are read in "
        "id order from indexes; a `reason` is matched by reading the deliveries, so on a "
        "large campaign give it with a `state`."))
    async def deliveries(self, info: Info, filter: Optional[DeliveryFilter] = None,
                         first: Optional[int] = DEFAULT_FIRST, after: Optional[str] = None
                         ) -> CampaignDeliveryConnection:
        info.context.require_member()
        f = (filter or DeliveryFilter()).to_platform()
        size, _ = page_window(DEFAULT_FIRST if first is None else first, None,
                              info.context.platform.settings.max_page_size)
        after_id = decode_cursor(after, "after") if after else 0
        db = info.context.platform.db

        async def load(campaign_ids):
            found = await delivery_list.pages(db, list(campaign_ids), f, after_id, size)
            return [found[i] for i in campaign_ids]

        # One loader per filter and window: a page of campaigns costs one statement.
        rows = await info.context.loader(f"campaign_deliveries:{f!r}:{after_id}:{size}",
                                         load).load(self.id)
        edges = [relay.Edge(node=CampaignDelivery.of(r), cursor=encode_cursor(r["id"]))
                 for r in rows[:size]]
        page = connection(edges, has_more=len(rows) > size, backwards=False, after=after,
                          before=None)
        return CampaignDeliveryConnection(edges=page.edges, page_info=page.page_info,
                                          campaign_id=self.id, applied=f)


def recipient_deliveries(info: Info):
    """This request's loader: campaign recipient id → its delivery rows, oldest first."""
    db = info.context.platform.db

    async def load(ids):
        found = await delivery_list.of_recipients(db, list(ids))
        return [found[i] for i in ids]

    return info.context.loader("recipient_deliveries", load)


async def delivery_events(info: Info, delivery_ids: Sequence[int]) -> list[CampaignEvent]:
    """The events of the deliveries, in time order (batched per request)."""
    if not delivery_ids:
        return []
    db = info.context.platform.db

    async def load(ids):
        listed = await delivery_list.event_ids(db, list(ids))
        by_id = {m["id"]: m for m in await frames.frames(db, [e["id"] for e in listed])}
        found: dict[int, list[dict]] = {i: [] for i in ids}
        for e in listed:
            if e["id"] in by_id:
                found[e["delivery"]].append(by_id[e["id"]])
        return [found[i] for i in ids]

    per_delivery = await info.context.loader("delivery_events", load).load_many(delivery_ids)
    found = [m for own in per_delivery for m in own]
    found.sort(key=lambda m: (moment(m["at"]), m["id"]))
    return [CampaignEvent.from_message(m) for m in found]
