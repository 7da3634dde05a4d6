"""Campaign mutations: ``campaignCreate``, ``campaignRecipientsAdd``, ``campaignLaunch``."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import campaigns as service
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id, node_ids


@strawberry.input
class ActionInput:
    type: str = strawberry.field(description="An action type's key (see actionTypes).")
    config: JSON = strawberry.field(description="Validated against the type's configSchema.")


@strawberry.input
class CampaignCreateInput:
    name: str
    description: str = ""
    owner_id: relay.GlobalID | None = None
    action: ActionInput


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.type
class CampaignRecipientsAddPayload:
    campaign: Campaign | None
    added: int
    already_present: int
    errors: list[UserError]


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(description="Create a quick campaign: one state running one action.")
    async def campaign_create(self, info: Info, input: CampaignCreateInput) -> CampaignPayload:
        async def work():
            owner = node_id(input.owner_id, "TeamMember", "input", "ownerId") \
                if input.owner_id is not None else None
            config = input.action.config if isinstance(input.action.config, dict) else {}
            row = await service.create_campaign(
                info.context.platform, info.context.member, input.name,
                service.ActionInput(type=input.action.type, config=config),
                description=input.description, owner_id=owner,
            )
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignPayload, work, campaign=None)

    @strawberry.mutation(description="Add contacts to a campaign's audience (duplicates ignored).")
    async def campaign_recipients_add(
        self, info: Info, campaign_id: relay.GlobalID, contact_ids: list[relay.GlobalID]
    ) -> CampaignRecipientsAddPayload:
        async def work():
            cid = node_id(campaign_id, "Campaign", "campaignId")
            ids = node_ids(contact_ids, "Contact", "contactIds")
            result = await service.add_contacts(info.context.platform, info.context.member, cid, ids)
            return {"campaign": Campaign.from_row(await service.get_campaign(cid)),
                    "added": result.added, "already_present": result.already_present}

        return await payload(CampaignRecipientsAddPayload, work, campaign=None, added=0,
                             already_present=0)

    @strawberry.mutation(description="Snapshot the audience and start executing the workflow.")
    async def campaign_launch(self, info: Info, id: relay.GlobalID) -> CampaignPayload:
        async def work():
            row = await service.launch(info.context.platform, info.context.member,
                                       node_id(id, "Campaign", "id"))
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignPayload, work, campaign=None)
