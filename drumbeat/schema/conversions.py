"""``campaignConversionRecord``: a contact (or a delivery) of the campaign converted."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform import conversions
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.events import CampaignEvent
from drumbeat.schema.ids import node_id


@strawberry.input(description="Name the contact (its latest sent delivery in the campaign "
                              "is credited) or the delivery itself.")
class CampaignConversionRecordInput:
    campaign_id: relay.GlobalID
    contact_id: relay.GlobalID | None = None
    delivery_id: int | None = strawberry.field(
        default=None, description="A delivery's ledger id (as in CampaignEvent.deliveryId).")
    note: str = ""


@strawberry.type
class CampaignConversionRecordPayload:
    event: CampaignEvent | None
    errors: list[UserError]


@strawberry.type
class ConversionMutations:
    @strawberry.mutation(description="Record a conversion (a CONVERTED event on the delivery "
                                     "that led to it). Owner, admin or a sales member.")
    async def campaign_conversion_record(self, info: Info, input: CampaignConversionRecordInput
                                         ) -> CampaignConversionRecordPayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            contact_id = node_id(input.contact_id, "Contact", "input", "contactId") \
                if input.contact_id is not None else None
            message = await conversions.record_by_member(
                info.context.platform, info.context.member, campaign_id,
                contact_id=contact_id, delivery_id=input.delivery_id, note=input.note)
            return {"event": CampaignEvent.from_message(message)}

        return await payload(CampaignConversionRecordPayload, work, event=None)
