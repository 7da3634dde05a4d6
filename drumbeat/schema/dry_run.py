"""``campaignDryRun``: what launching a campaign now would do, computed without doing it."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform.dry_run import StepPlan, dry_run
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.tables import SkipReason
from drumbeat.schema.audience_fields import ReasonCount
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, user_errors
from drumbeat.schema.ids import id_of


@strawberry.type(description="What a step's executed targets would produce.")
class Produced:
    kind: str = strawberry.field(description='E.g. "email", "call task", "invoice".')
    count: int


@strawberry.type
class RenderedPart:
    name: str = strawberry.field(description='E.g. "subject", "text", "html".')
    value: str


@strawberry.type
class DryRunStep:
    step_id: int
    action_type: str
    targets: int = strawberry.field(description="Ledger rows a launch would write (incl. skips).")
    queued: int = strawberry.field(description="Targets a launch would execute.")
    skipped: list[ReasonCount]
    produces: Produced
    sample: list[RenderedPart] | None = strawberry.field(
        description="The action rendered for the first target it would execute.")
    sample_address: str | None
    sample_error: str | None = strawberry.field(
        description="Why rendering the sample failed (a template error, with its line).")

    @classmethod
    def from_plan(cls, plan: StepPlan) -> "DryRunStep":
        return cls(
            step_id=plan.step_id, action_type=plan.action_type, targets=len(plan.rows),
            queued=plan.queued,
            skipped=[ReasonCount(reason=SkipReason(k), count=v) for k, v in plan.skipped.items()],
            produces=Produced(kind=plan.produces, count=plan.queued),
            sample=[RenderedPart(name=k, value=v) for k, v in plan.sample.items()]
            if plan.sample is not None else None,
            sample_address=plan.sample_address, sample_error=plan.sample_error)


@strawberry.type
class CampaignDryRun:
    can_launch: bool = strawberry.field(description="True when the launch checks find nothing.")
    problems: list[UserError] = strawberry.field(
        description="What campaignLaunch would refuse the campaign for, with field paths.")
    steps: list[DryRunStep] = strawberry.field(description="Each start step, in order.")


@strawberry.type
class DryRunQueries:
    @strawberry.field(description=(
        "Compute a launch of the campaign without executing it: the launch checks, and for "
        "each start step its targets, skips by reason, what it would produce and a rendered "
        "sample. Writes nothing. Null for an unknown id."))
    async def campaign_dry_run(self, info: Info, id: relay.GlobalID) -> CampaignDryRun | None:
        info.context.require_member()
        campaign_id = id_of(id, "Campaign")
        if campaign_id is None:
            return None
        try:
            plan = await dry_run(info.context.platform, info.context.member, campaign_id)
        except DomainError as exc:
            if any(p.code is ErrorCode.NOT_FOUND for p in exc.problems):
                return None
            raise
        problems = user_errors(DomainError(plan.problems))
        return CampaignDryRun(can_launch=not problems, problems=problems,
                              steps=[DryRunStep.from_plan(p) for p in plan.steps])
