"""What a launch would do, computed once for the launch itself and for a dry run: the start
steps, the checks that must pass, and each step's targets with their skip reasons.

``lifecycle`` writes the result to the ledger; ``dry_run`` only reports it — so a dry run
shows exactly what launching now would write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Mapping

from drumbeat.platform.actions import ActionType
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.campaign_info import check_launch
from drumbeat.platform.dispatch import TargetRow
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.tables import SkipReason


@dataclass(frozen=True)
class StepTargets:
    step: Mapping
    action_type: ActionType
    rows: list[TargetRow]


async def start_steps(db, campaign_id: int) -> list[dict]:
    """The actions of the campaign's start state (its current workflow version), in order."""
    return await db.fetch(
        "SELECT a.id, a.action_type, a.config FROM drumbeat_workflow_action a"
        " JOIN drumbeat_workflow_state s ON s.id = a.state"
        " WHERE a.campaign = {} AND s.is_start = {} ORDER BY a.position, a.id",
        campaign_id, True)


async def check_startable(platform, problems: Problems, campaign_id: int,
                          steps: list[dict]) -> list[dict]:
    """Add what keeps the campaign from starting to ``problems`` (no recipients, an action
    type that is not installed, each step's ``check_launch``); returns the steps whose
    action type is installed."""
    if not await platform.db.fetchval(
            "SELECT count(*) FROM drumbeat_campaign_recipient WHERE campaign = {}", campaign_id):
        problems.add("Add at least one recipient before launching.", ErrorCode.NO_RECIPIENTS,
                     "id")
    known = [s for s in steps if s["action_type"] in platform.plugins.action_types]
    for step in steps:
        if step not in known:
            problems.add(f"The action type {step['action_type']!r} is not installed.",
                         ErrorCode.UNKNOWN_ACTION_TYPE, "action", "type")
    await check_launch(platform, problems, campaign_id, known)
    return known


async def needs_engine(db, campaign_id: int) -> bool:
    """Whether the current workflow version has more than one state, a transition or a
    goal (a quick campaign — one state, no version row — does not)."""
    raw = await db.fetchval("SELECT definition FROM drumbeat_workflow_version"
                            " WHERE campaign = {} ORDER BY number DESC LIMIT 1", campaign_id)
    if raw is None:
        return False
    definition = json.loads(raw) if isinstance(raw, str) else raw
    states = definition.get("states") or []
    return (len(states) > 1 or bool(definition.get("goals"))
            or any(state.get("transitions") for state in states))


async def step_targets(platform, campaign: Mapping, steps: list[dict]) -> list[StepTargets]:
    """Each step's targets: the audience resolved once per ``needs_address``, and an
    email-only step's rows skipped with ``SEND_EMAILS_OFF`` when ``sendEmails`` is off."""
    resolved: dict[bool, list[TargetRow]] = {}
    plans = []
    for step in steps:
        action_type = platform.plugins.action_types[step["action_type"]]
        needs_address = action_type.needs_address
        if needs_address not in resolved:
            resolved[needs_address] = await resolve_audience(platform.db, campaign,
                                                             needs_address)
        rows = resolved[needs_address]
        if action_type.email_only and not campaign["send_emails"]:
            rows = emails_off(rows)
        plans.append(StepTargets(step, action_type, rows))
    return plans


def emails_off(rows: list[TargetRow]) -> list[TargetRow]:
    """The rows of an email-only step of a campaign with ``sendEmails`` off: all skipped
    (those excluded for another reason keep it)."""
    return [row if row.skip_reason else replace(row, skip_reason=SkipReason.SEND_EMAILS_OFF.value)
            for row in rows]
