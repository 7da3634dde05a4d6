"""Conversions: a CONVERTED event in the event ledger, tied to the delivery that led to it.

``record_conversion`` is what ``campaignConversionRecord`` calls (a person saying "this
contact converted"); plugins feed conversions the same way from their outcomes (an invoice
paid, an opportunity won) through ``drumbeat.record_conversion``. The delivery is the
contact's most recent *sent* delivery in the campaign, or the one given; a conversion of a
contact the campaign never reached is refused (it is not the campaign's doing).
Metrics count a delivery as converted once, however many conversions it has.
"""

from __future__ import annotations

from drumbeat.platform import audit
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import can_edit_campaign
from drumbeat.platform.tables import Role
from drumbeat.platform.tables.tracking import EventType
from drumbeat.platform.team import Member
from drumbeat.platform.tracking.events import store_event
from drumbeat.platform.validation import check_text

MAX_DETAIL_CHARS = 2_000


async def record_conversion(platform, campaign_id: int, delivery_id: int, detail: str = ""
                            ) -> dict:
    """Store a CONVERTED event on ``delivery_id`` (of ``campaign_id``) and publish it once
    committed; returns the event message. For plugins: call it after your own commit."""
    message = await store_event(platform.db, campaign_id, delivery_id, EventType.CONVERTED,
                                detail)
    await platform.publish(campaign_id, message)
    return message


async def record_by_member(platform, member: Member | None, campaign_id: int, *,
                           contact_id: int | None, delivery_id: int | None, note: str) -> dict:
    """``campaignConversionRecord``: the campaign's owner, an admin or a SALES member."""
    campaign = await require_campaign(member, campaign_id, "input.campaignId")
    if not (can_edit_campaign(member, campaign) or member.role is Role.SALES):
        raise DomainError.one("Only the campaign's owner, an admin or a sales member may "
                              "record conversions.", ErrorCode.FORBIDDEN)
    problems = Problems()
    check_text(problems, note, MAX_DETAIL_CHARS, "input", "note")
    if (contact_id is None) == (delivery_id is None):
        problems.add("Name the contact or the delivery that converted (one of them).",
                     ErrorCode.INVALID, "input", "contactId")
    problems.raise_if_any()
    delivery = await _sent_delivery(platform.db, campaign_id, contact_id, delivery_id)
    if delivery is None:
        field = "contactId" if contact_id is not None else "deliveryId"
        raise DomainError.one("The campaign sent nothing to it: a conversion is tied to a "
                              "sent delivery.", ErrorCode.NOT_FOUND, ["input", field])
    async with platform.db.transaction():
        message = await store_event(platform.db, campaign_id, delivery, EventType.CONVERTED,
                                    note)
        await audit.record(member, campaign_id, "conversion.record",
                           [audit.Change("delivery", None, delivery)])
    await platform.publish(campaign_id, message)
    return message


async def _sent_delivery(db, campaign_id: int, contact_id: int | None,
                         delivery_id: int | None) -> int | None:
    if delivery_id is not None:
        return await db.fetchval(
            "SELECT id FROM drumbeat_delivery WHERE id = {} AND campaign = {} AND state = 'done'",
            delivery_id, campaign_id)
    return await db.fetchval(
        "SELECT id FROM drumbeat_delivery WHERE campaign = {} AND target_kind = 'contact'"
        " AND target_id = {} AND state = 'done' ORDER BY finished_at DESC, id DESC LIMIT 1",
        campaign_id, contact_id)
