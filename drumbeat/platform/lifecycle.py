"""A campaign's lifecycle: ``PROPOSED → IN_PREPARATION → READY → RUNNING ⇄ PAUSED →
COMPLETED``, or ``CANCELLED`` from any state that is not final.

Every move is one conditional UPDATE (``… WHERE state = <expected>``), so two concurrent
requests can never both make it. ``RUNNING`` is reached by a launch (from ``READY``) or a
resume (from ``PAUSED``); ``COMPLETED`` only by itself, once every delivery is final.
"""

from __future__ import annotations

import logging

from drumbeat.platform import audit, ledger, ledger_sweeps
from drumbeat.platform.launch_plan import (
    check_startable, needs_engine, start_steps, step_targets,
)
from drumbeat.platform.campaigns import complete_finished, get_campaign, require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Campaign, CampaignState
from drumbeat.platform.team import Member, now
from drumbeat.platform.workflows import clock
from drumbeat.platform.workflows.enrollments import cancel_all as cancel_enrollments, enroll_start
from drumbeat.platform.workflows.scheduler import tick as workflow_tick

log = logging.getLogger(__name__)
S = CampaignState

#: The moves a member may ask for (besides the automatic RUNNING → COMPLETED).
MOVES: dict[CampaignState, tuple[CampaignState, ...]] = {
    S.PROPOSED: (S.IN_PREPARATION, S.CANCELLED),
    S.IN_PREPARATION: (S.PROPOSED, S.READY, S.CANCELLED),
    S.READY: (S.IN_PREPARATION, S.RUNNING, S.CANCELLED),
    S.RUNNING: (S.PAUSED, S.CANCELLED),
    S.PAUSED: (S.RUNNING, S.CANCELLED),
    S.COMPLETED: (),
    S.CANCELLED: (),
}


async def transition(platform: Platform, member: Member | None, campaign_id: int,
                     to: CampaignState) -> dict:
    """Move the campaign to ``to`` if that move is legal from its current state."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    current = S(campaign["state"])
    if to not in MOVES[current]:
        hint = " (it completes by itself when every delivery is final)" if to is S.COMPLETED else ""
        raise DomainError.one(f"A {current.value} campaign cannot move to {to.value}{hint}.",
                              ErrorCode.INVALID_TRANSITION, ["to"])
    if to is S.RUNNING:
        return await (launch if current is S.READY else resume)(platform, member, campaign_id)
    if to is S.PAUSED:
        return await pause(platform, member, campaign_id)
    if to is S.CANCELLED:
        return await cancel(platform, member, campaign_id)
    async with platform.db.transaction():
        await _move(campaign_id, current, to)
        await audit.record(member, campaign_id, "campaign.transition",
                           [audit.Change("state", current, to)])
    return await get_campaign(campaign_id)


async def _move(campaign_id: int, current: CampaignState, to: CampaignState, **extra) -> None:
    stamp = now()
    moved = await Campaign.update({Campaign.state: to.value, Campaign.updated_at: stamp,
                                   **{getattr(Campaign, k): v for k, v in extra.items()}}).where(
        Campaign.id == campaign_id, Campaign.state == current.value).returning(Campaign.id)
    if not moved:
        raise DomainError.one("The campaign's state changed meanwhile; reload and try again.",
                              ErrorCode.INVALID_STATE, ["id"])


def _require_state(campaign: dict, *allowed: CampaignState, verb: str) -> CampaignState:
    current = S(campaign["state"])
    if current not in allowed:
        raise DomainError.one(f"A {current.value} campaign cannot be {verb}.",
                              ErrorCode.INVALID_TRANSITION, ["id"])
    return current


async def launch(platform: Platform, member: Member | None, campaign_id: int) -> dict:
    """READY → RUNNING: resolve the audience (dispatch strategy, consent, suppression,
    duplicates — each skip with its reason), snapshot it into the ledger, then enqueue."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    return await _start(platform, member, campaign)


async def _start(platform: Platform, member: Member | None, campaign: dict) -> dict:
    campaign_id = campaign["id"]
    _require_state(campaign, S.READY, verb="launched (move it to READY first)")
    problems = Problems()
    steps = await check_startable(platform, problems, campaign_id,
                                  await start_steps(platform.db, campaign_id))
    problems.raise_if_any()
    settings = platform.settings
    chunks: list[ledger.Chunk] = []
    skipped: list[int] = []
    async with platform.db.transaction():
        await _move(campaign_id, S.READY, S.RUNNING, launched_at=now())
        for plan in await step_targets(platform, campaign, steps):
            step_id = plan.step["id"]
            skipped += await ledger.snapshot(platform.db, campaign_id, step_id, plan.rows,
                                             settings.redeliver_after_seconds)
            chunks += await ledger.pending_chunks(platform.db, campaign_id, step_id,
                                                  settings.chunk_size)
        # A workflow campaign: every recipient is also enrolled in the start state (whose
        # actions were just snapshotted); the workflow scheduler moves them on from there.
        engine = await needs_engine(platform.db, campaign_id)
        if engine:
            await enroll_start(platform.db, campaign_id)
        await audit.record(member, campaign_id, "campaign.launch",
                           [audit.Change("state", S.READY, S.RUNNING)])
    await _dispatch(platform, campaign_id, chunks)
    await ledger.announce(platform.db, platform.publish, skipped)
    if engine:  # take the start state's instant transitions now rather than next tick
        try:
            await workflow_tick(platform, campaign_id=campaign_id)
        except Exception:
            log.exception("first workflow tick of campaign %s failed", campaign_id)
    await platform.publish(campaign_id, {"type": "launched"})
    return await get_campaign(campaign_id)


async def _dispatch(platform: Platform, campaign_id: int, chunks: list[ledger.Chunk]) -> None:
    """Enqueue after commit; if the broker is down the rows are safe in the ledger and the
    reconciler sends them once their hold expires."""
    try:
        await platform.dispatch(chunks)
    except Exception:
        log.exception("enqueueing campaign %s failed; the reconciler will re-send", campaign_id)
    await complete_finished(platform, campaign_id)


async def pause(platform: Platform, member: Member | None, campaign_id: int) -> dict:
    """RUNNING → PAUSED: no new chunk starts; chunks already executing finish."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    _require_state(campaign, S.RUNNING, verb="paused")
    async with platform.db.transaction():
        await _move(campaign_id, S.RUNNING, S.PAUSED)
        await audit.record(member, campaign_id, "campaign.transition",
                           [audit.Change("state", S.RUNNING, S.PAUSED)])
    await platform.publish(campaign_id, {"type": "paused"})
    return await get_campaign(campaign_id)


async def resume(platform: Platform, member: Member | None, campaign_id: int) -> dict:
    """PAUSED → RUNNING: re-enqueue what is still pending, from the ledger (so it also works
    after every process was restarted)."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    _require_state(campaign, S.PAUSED, verb="resumed")
    async with platform.db.transaction():
        await _move(campaign_id, S.PAUSED, S.RUNNING)
        rows = await ledger_sweeps.hold_pending(platform.db, campaign_id,
                                         platform.settings.redeliver_after_seconds)
        await audit.record(member, campaign_id, "campaign.transition",
                           [audit.Change("state", S.PAUSED, S.RUNNING)])
    await _dispatch(platform, campaign_id, ledger.chunks_of(rows, platform.settings.chunk_size))
    await platform.publish(campaign_id, {"type": "resumed"})
    return await get_campaign(campaign_id)


async def cancel(platform: Platform, member: Member | None, campaign_id: int) -> dict:
    """Any state that is not final → CANCELLED. Deliveries not yet started are skipped with
    reason ``CANCELLED``; those executing right now finish."""
    campaign = await require_campaign(member, campaign_id, "id")
    require_campaign_editor(member, campaign)
    current = _require_state(campaign, *(s for s, moves in MOVES.items() if S.CANCELLED in moves),
                             verb="cancelled")
    async with platform.db.transaction():
        await _move(campaign_id, current, S.CANCELLED, completed_at=now())
        skipped = await ledger_sweeps.skip_pending(platform.db, campaign_id, "CANCELLED")
        await cancel_enrollments(platform.db, campaign_id, clock.now())
        await audit.record(member, campaign_id, "campaign.transition",
                           [audit.Change("state", current, S.CANCELLED)])
    await ledger.announce(platform.db, platform.publish, skipped)
    await platform.publish(campaign_id, {"type": "cancelled"})
    return await get_campaign(campaign_id)


async def launch_due(platform: Platform) -> list[int]:
    """Launch READY campaigns whose scheduled start has come (run by the reconciler).

    A campaign that cannot launch (no recipients, say) goes back to IN_PREPARATION with the
    reasons in its audit log, so it is not retried every tick and its owner sees why.
    """
    due = await Campaign.select().where(
        Campaign.state == S.READY.value, Campaign.scheduled_start.is_not_null(),
        Campaign.scheduled_start <= now())
    launched = []
    for campaign in due:
        try:
            await _start(platform, None, campaign)
            launched.append(campaign["id"])
        except DomainError as exc:
            log.warning("scheduled campaign %s did not start: %s", campaign["id"], exc)
            async with platform.db.transaction():
                await _move(campaign["id"], S.READY, S.IN_PREPARATION)
                await audit.record(None, campaign["id"], "campaign.scheduled_launch_failed", [
                    audit.Change("state", S.READY, S.IN_PREPARATION),
                    audit.Change("problems", None, [p.message for p in exc.problems])])
    return launched

