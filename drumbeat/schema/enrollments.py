"""Workflow enrollments in the API: where each recipient of a workflow campaign is
(``campaignEnrollments``, ``campaignEnrollmentCounts``), the path it took (``Enrollment.journey``,
``recipientJourney``), and manual control (``enrollmentMove`` / ``enrollmentPause`` /
``enrollmentResume``, the campaign's owner or an admin, audited). The rules are in
:mod:`drumbeat.platform.workflows.control` and :mod:`~drumbeat.platform.workflows.engine`."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional, Sequence

import strawberry
from strawberry import relay

from drumbeat.platform import delivery_list
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.delivery_list import moment
from drumbeat.platform.workflows import control
from drumbeat.platform.workflows import enrollments as service
from drumbeat.platform.workflows.clock import as_datetime
from drumbeat.platform.workflows.enrollments import Status
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.contacts import Contact
from drumbeat.schema.deliveries import CampaignDelivery, delivery_events, recipient_deliveries
from drumbeat.schema.events import CampaignEvent
from drumbeat.schema.enrollment_status import EnrollmentStatus
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import id_of, node_id
from drumbeat.schema.pagination import connection, decode_cursor, encode_cursor, page_window
from drumbeat.schema.team import TeamMember

@strawberry.type(description="One state of a recipient's journey through a workflow.")
class JourneyStep:
    state_key: str
    entered_at: datetime
    left_at: Optional[datetime] = strawberry.field(
        description="When it moved on or finished; null while it is there.")
    via: str = strawberry.field(description=(
        "How it got here: START, ON_COMPLETE, AFTER_DELAY, ON_EVENT, TIMEOUT, CONDITION, "
        "RANDOM_SPLIT, MANUAL, TRIGGER <event> (campaignEnroll, POST /triggers), or "
        "MIGRATE v<from>->v<to> (enrollmentsMigrate). In recipientJourney, deliveries of "
        "no workflow entry show as a state of their own: LAUNCH (a quick campaign's send, "
        "or any state's when nothing enrolled the recipient) or SEND_NOW "
        "(campaignSendNow)."))
    member_id: strawberry.Private[Optional[int]]
    delivery_rows: strawberry.Private[list]

    @strawberry.field(description="Who moved it by hand (MANUAL) or migrated it (MIGRATE).")
    async def moved_by(self, info: Info) -> Optional[TeamMember]:
        if self.member_id is None:
            return None
        row = await info.context.loaders.member.load(self.member_id)
        return TeamMember.from_row(row) if row else None

    @strawberry.field(description="The deliveries of this state entry (its actions, and "
                                  "their resends), oldest first.")
    def deliveries(self) -> list[CampaignDelivery]:
        return [CampaignDelivery.of(r) for r in self.delivery_rows]

    @strawberry.field(description="Those deliveries' events (SENT, OPENED, FAILED, …), in "
                                  "time order.")
    async def events(self, info: Info) -> list[CampaignEvent]:
        return await delivery_events(info, [r["id"] for r in self.delivery_rows])

    @classmethod
    def of(cls, step: dict, rows: Sequence[dict] = ()) -> "JourneyStep":
        return cls(state_key=step["state_key"], entered_at=moment(step["entered_at"]),
                   left_at=moment(step["left_at"]), via=step["via"],
                   member_id=step["member"], delivery_rows=list(rows))


def journey_steps(entries: Sequence[dict], rows: Sequence[dict], *,
                  entries_only: bool = False) -> list[JourneyStep]:
    """The journey's entries (none when not enrolled) with the recipient's deliveries (and,
    unless ``entries_only``, a step per state of the deliveries of no entry)."""
    return [JourneyStep.of(e, own) for e, own in
            delivery_list.place(entries, rows, entries_only=entries_only)]


@strawberry.type(description="A recipient's place in a workflow campaign.")
class Enrollment(relay.Node):
    id: relay.NodeID[int]
    version: int = strawberry.field(description="The workflow version it follows.")
    state_key: str
    status: EnrollmentStatus
    entered_at: datetime = strawberry.field(description="When it entered its current state.")
    due_at: Optional[datetime] = strawberry.field(
        description="When its delay or timeout expires (WAITING), if it has one.")
    finished_at: Optional[datetime]
    row: strawberry.Private[dict]

    @classmethod
    def from_row(cls, row: dict) -> "Enrollment":
        return cls(id=row["id"], version=row["version"], state_key=row["state_key"],
                   status=Status(row["status"]), entered_at=as_datetime(row["entered_at"]),
                   due_at=as_datetime(row["due_at"]),
                   finished_at=as_datetime(row["finished_at"]), row=row)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await service.by_ids(info.context.platform.db, [int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]

    @strawberry.field
    async def campaign(self, info: Info) -> Optional[Campaign]:
        return (await Campaign.resolve_nodes(info=info, node_ids=[str(self.row["campaign"])]))[0]

    @strawberry.field(description="The contact (null for a company or lead recipient).")
    async def contact(self, info: Info) -> Optional[Contact]:
        if self.row["contact"] is None:
            return None
        return (await Contact.resolve_nodes(info=info, node_ids=[str(self.row["contact"])]))[0]

    @strawberry.field(description="The states it went through, oldest first, each with its "
                                  "deliveries and their events.")
    async def journey(self, info: Info) -> list[JourneyStep]:
        db = info.context.platform.db
        steps = await info.context.loader(
            "enrollment_journeys", lambda ids: service.journeys(db, list(ids))).load(self.id)
        return journey_steps(steps, await recipient_deliveries(info).load(self.row["recipient"]),
                             entries_only=True)


@strawberry.type(description="How many enrollments are in a state of a version, by status.")
class EnrollmentCount:
    version: int
    state_key: str
    state_name: str = strawberry.field(description="The state's name in that version.")
    status: EnrollmentStatus
    count: int

    @classmethod
    def of(cls, row: dict) -> "EnrollmentCount":
        """From a row of ``enrollments.counts``."""
        return cls(version=row["version"], state_key=row["state_key"],
                   state_name=row["state_name"], status=Status(row["status"]), count=row["n"])


@strawberry.type
class EnrollmentPayload:
    enrollment: Optional[Enrollment]
    errors: list[UserError]


@strawberry.type(name="EnrollmentConnection",
                 description="A page of a campaign's enrollments, oldest first.")
class EnrollmentConnection(relay.Connection[Enrollment]):
    pass


async def enrollment_page(info: Info, campaign_id: int, status: Optional[Status],
                          state_key: Optional[str], first: Optional[int],
                          after: Optional[str]) -> EnrollmentConnection:
    """``campaignEnrollments`` and ``Campaign.enrollments`` (the caller checked access)."""
    size, _ = page_window(first, None, info.context.platform.settings.max_page_size)
    rows = await service.page(
        info.context.platform.db, campaign_id, status=None if status is None else status.value,
        state_key=state_key, after_id=decode_cursor(after, "after") if after else 0,
        size=size)
    edges = [relay.Edge(node=Enrollment.from_row(r), cursor=encode_cursor(r["id"]))
             for r in rows[:size]]
    page = connection(edges, has_more=len(rows) > size, backwards=False, after=after,
                      before=None)
    return EnrollmentConnection(edges=page.edges, page_info=page.page_info)


async def enrollment_counts(info: Info, campaign_id: int) -> list[EnrollmentCount]:
    return [EnrollmentCount.of(r)
            for r in await service.counts(info.context.platform.db, campaign_id)]


@strawberry.type
class EnrollmentQueries:
    @strawberry.field(description="A workflow campaign's enrollments, oldest first (also "
                                  "`Campaign.enrollments`).")
    async def campaign_enrollments(
            self, info: Info, campaign_id: relay.GlobalID,
            status: Optional[EnrollmentStatus] = None, state_key: Optional[str] = None,
            first: Optional[int] = None, after: Optional[str] = None,
    ) -> EnrollmentConnection:
        member = info.context.require_member()
        cid = node_id(campaign_id, "Campaign", "campaignId")
        await require_campaign(member, cid)
        return await enrollment_page(info, cid, status, state_key, first, after)

    @strawberry.field(description="Where a workflow campaign's recipients are: the number "
                                  "of enrollments per version, state and status (one "
                                  "query; for dashboards).")
    async def campaign_enrollment_counts(self, info: Info, campaign_id: relay.GlobalID
                                         ) -> list[EnrollmentCount]:
        member = info.context.require_member()
        cid = node_id(campaign_id, "Campaign", "campaignId")
        await require_campaign(member, cid)
        return await enrollment_counts(info, cid)

    @strawberry.field(description=(
        "A contact's journey through a campaign: the states it went through, oldest first, "
        "each with its deliveries and their events. A contact the campaign addressed but "
        "did not enrol (a quick campaign) gets one state per state of its deliveries; "
        "empty for a contact the campaign never reached."))
    async def recipient_journey(self, info: Info, campaign_id: relay.GlobalID,
                                contact_id: relay.GlobalID) -> list[JourneyStep]:
        member = info.context.require_member()
        cid, contact = id_of(campaign_id, "Campaign"), id_of(contact_id, "Contact")
        if cid is None or contact is None:
            return []
        await require_campaign(member, cid)
        db = info.context.platform.db
        row = await service.of_contact(db, cid, contact)
        if row is None:
            return journey_steps([], await delivery_list.of_contact(db, cid, contact))
        return journey_steps(await service.journey(db, row["id"]),
                             await recipient_deliveries(info).load(row["recipient"]))


@strawberry.type
class EnrollmentMutations:
    @strawberry.mutation(description="Move one enrollment to a state of its workflow version "
                                     "by hand (it runs that state's actions).")
    async def enrollment_move(self, info: Info, id: relay.GlobalID,
                              state_key: str) -> EnrollmentPayload:
        return await _change(info, lambda p, m, i: control.move_enrollment(p, m, i, state_key),
                             id)

    @strawberry.mutation(description="Pause one ACTIVE or WAITING enrollment.")
    async def enrollment_pause(self, info: Info, id: relay.GlobalID) -> EnrollmentPayload:
        return await _change(info, control.pause_enrollment, id)

    @strawberry.mutation(description="Resume one PAUSED enrollment.")
    async def enrollment_resume(self, info: Info, id: relay.GlobalID) -> EnrollmentPayload:
        return await _change(info, control.resume_enrollment, id)


async def _change(info: Info, action, id: relay.GlobalID) -> EnrollmentPayload:
    async def work():
        row = await action(info.context.platform, info.context.member,
                           node_id(id, "Enrollment", "id"))
        return {"enrollment": Enrollment.from_row(row)}

    return await payload(EnrollmentPayload, work, enrollment=None)
