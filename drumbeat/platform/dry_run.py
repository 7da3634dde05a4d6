"""Dry run (``campaignDryRun``): a whole launch computed without executing it — the launch's
checks, and per start step its targets, skips by reason, what it would produce and a
rendered sample. It writes nothing.

It computes the launch with the launch's own code (``launch_plan``: the same start steps,
checks and targets), so its counts are what a launch now would write to the ledger.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from typing import Mapping

from pydantic import ValidationError

from drumbeat.platform.campaign_info import load_campaign_info
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.dispatch import TargetRow, reasons_count
from drumbeat.platform.errors import ErrorCode, Problem, Problems
from drumbeat.platform.launch_plan import check_startable, start_steps, step_targets
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import CampaignState
from drumbeat.platform.team import Member
from drumbeat.platform.templating import TemplateProblem
from drumbeat.platform.test_send import action_context, preview_target


@dataclass(frozen=True)
class StepPlan:
    step_id: int
    action_type: str
    produces: str
    rows: list[TargetRow]
    #: The action rendered for the first target it would execute (e.g. subject and text).
    sample: Mapping[str, str] | None = None
    sample_address: str | None = None
    sample_error: str | None = None

    @property
    def queued(self) -> int:
        return sum(1 for r in self.rows if not r.skip_reason)

    @property
    def skipped(self) -> dict[str, int]:
        return dict(sorted(reasons_count(self.rows).items()))


@dataclass(frozen=True)
class LaunchPlan:
    problems: list[Problem] = field(default_factory=list)
    steps: list[StepPlan] = field(default_factory=list)


async def dry_run(platform: Platform, member: Member | None, campaign_id: int) -> LaunchPlan:
    """What launching the campaign now would do. Anyone who may read it may ask."""
    campaign = await require_campaign(member, campaign_id, "id")
    problems = Problems()
    state = CampaignState(campaign["state"])
    if state is not CampaignState.READY:
        problems.add(f"A {state.value} campaign cannot be launched (move it to READY first).",
                     ErrorCode.INVALID_TRANSITION, "id")
    steps = await check_startable(platform, problems, campaign_id,
                                  await start_steps(platform.db, campaign_id))
    info = await load_campaign_info(platform, campaign_id)
    plans = [await _plan(platform, info, p.step, p.action_type, p.rows)
             for p in await step_targets(platform, campaign, steps)]
    return LaunchPlan(problems.items, plans)


async def _plan(platform: Platform, info, step: Mapping, action_type, rows: list[TargetRow]
                ) -> StepPlan:
    plan = StepPlan(step["id"], step["action_type"], action_type.produces, rows)
    first = next((r for r in rows if not r.skip_reason), None)
    if first is None:
        return plan
    raw = step["config"]
    try:
        config = action_type.parse_config(json.loads(raw) if isinstance(raw, str) else raw or {})
    except ValidationError:
        return plan  # reported by check_launch
    target = await preview_target(platform, info, step["id"], first.kind, first.id,
                                  first.address)
    try:
        # Rendering (templates, up to their limits) is CPU work: off the event loop.
        sample = await asyncio.to_thread(
            action_type.render_sample, action_context(platform, info, step["id"], config), target)
    except TemplateProblem as exc:
        return replace(plan, sample_address=first.address, sample_error=str(exc))
    return replace(plan, sample=sample, sample_address=first.address)
