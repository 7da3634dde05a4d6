"""``campaignResend``: send a step of a launched campaign again to the targets whose last
delivery of it failed, was not opened or was not clicked (``drumbeat.platform.resend``)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform import resend
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id

ResendFilter = strawberry.enum(
    resend.ResendFilter, name="ResendFilter",
    description=("Which targets of a step a resend addresses, by their latest delivery of "
                 "it: FAILED — it failed; UNOPENED — sent, no open (suspected bots do not "
                 "count); UNCLICKED — sent, no click. UNOPENED and UNCLICKED apply to steps "
                 "that send messages (email)."))


@strawberry.input
class CampaignResendInput:
    campaign_id: relay.GlobalID
    step_id: int = strawberry.field(description="A step of the campaign (WorkflowStep.id).")
    filter: ResendFilter
    dry_run: bool = strawberry.field(
        default=False, description="Only count the targets; nothing is written or sent.")


@strawberry.type
class CampaignResendPayload:
    campaign: Campaign | None
    count: int = strawberry.field(description="Targets the filter selected.")
    queued: int = strawberry.field(description=(
        "Of them, deliveries enqueued for sending (a dry run: that a run would enqueue now)."))
    skipped: int = strawberry.field(description=(
        "Of them, written skipped with their reason — unsubscribed, bounced, suppressed "
        "since… (a dry run: that a run would skip now)."))
    errors: list[UserError]


@strawberry.type
class ResendMutations:
    @strawberry.mutation(description=(
        "Send a step of a RUNNING, PAUSED or COMPLETED campaign again to the targets whose "
        "latest delivery of it matches the filter: new deliveries with new Message-IDs "
        "(unsubscribed, bounced or suppressed targets are skipped with their reason). A "
        "COMPLETED campaign runs again until they are final; a PAUSED one sends them when "
        "resumed. Refused while the step has deliveries in flight. Campaign owner or "
        "admin; audited."))
    async def campaign_resend(self, info: Info,
                              input: CampaignResendInput) -> CampaignResendPayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            result = await resend.resend(
                info.context.platform, info.context.member, campaign_id, input.step_id,
                resend.ResendFilter(input.filter), dry_run=input.dry_run)
            return {"campaign": Campaign.from_row(result.campaign), "count": result.count,
                    "queued": result.queued, "skipped": result.skipped}

        return await payload(CampaignResendPayload, work, campaign=None, count=0, queued=0,
                             skipped=0)
