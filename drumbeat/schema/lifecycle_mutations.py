"""Lifecycle mutations: ``campaignTransition`` (any legal move) and one mutation per move
(``campaignLaunch``, ``campaignPause``, ``campaignResume``, ``campaignCancel``)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform import lifecycle
from drumbeat.platform.tables import CampaignState as CampaignStateEnum
from drumbeat.schema.campaign_mutations import CampaignPayload
from drumbeat.schema.campaigns import Campaign, CampaignState
from drumbeat.schema.context import Info
from drumbeat.schema.errors import payload
from drumbeat.schema.ids import node_id


async def _run(info: Info, move, id: relay.GlobalID, *args) -> CampaignPayload:
    async def work():
        row = await move(info.context.platform, info.context.member,
                         node_id(id, "Campaign", "id"), *args)
        return {"campaign": Campaign.from_row(row)}

    return await payload(CampaignPayload, work, campaign=None)


@strawberry.type
class LifecycleMutations:
    @strawberry.mutation(description=(
        "Move a campaign: PROPOSED → IN_PREPARATION → READY → RUNNING ⇄ PAUSED, or CANCELLED "
        "from any state that is not final. RUNNING launches a READY campaign or resumes a "
        "PAUSED one; COMPLETED happens by itself."))
    async def campaign_transition(self, info: Info, id: relay.GlobalID,
                                  to: CampaignState) -> CampaignPayload:
        return await _run(info, lifecycle.transition, id, CampaignStateEnum(to))

    @strawberry.mutation(description="Snapshot the audience of a READY campaign and start it.")
    async def campaign_launch(self, info: Info, id: relay.GlobalID) -> CampaignPayload:
        return await _run(info, lifecycle.launch, id)

    @strawberry.mutation(description="Pause a running campaign: no new chunk starts.")
    async def campaign_pause(self, info: Info, id: relay.GlobalID) -> CampaignPayload:
        return await _run(info, lifecycle.pause, id)

    @strawberry.mutation(description="Resume a paused campaign exactly where it stopped.")
    async def campaign_resume(self, info: Info, id: relay.GlobalID) -> CampaignPayload:
        return await _run(info, lifecycle.resume, id)

    @strawberry.mutation(description="Cancel a campaign; deliveries not started are skipped.")
    async def campaign_cancel(self, info: Info, id: relay.GlobalID) -> CampaignPayload:
        return await _run(info, lifecycle.cancel, id)
