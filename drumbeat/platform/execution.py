"""Executing one chunk: claim → the action type's ``execute`` → record outcomes, as they
come and under a lease kept alive meanwhile (``chunk_progress.ChunkProgress``).

Called by the worker's generic actor; safe to call twice for the same chunk (a second
call finds nothing left to claim) and after a crash (expired leases are re-claimed).
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from drumbeat.platform import ledger
from drumbeat.platform.actions import MESSAGE, ActionContext, Outcome, Target
from drumbeat.platform.campaign_info import load_campaign_info
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.chunk_progress import ChunkProgress
from drumbeat.platform.personalisation import empty_data, target_data, target_sender
from drumbeat.platform.runtime import Platform
from drumbeat.platform.suppression import Suppressions
from drumbeat.platform.tables import CampaignState

log = logging.getLogger(__name__)


async def run_chunk(platform: Platform, chunk: ledger.Chunk) -> int:
    """Execute what is still claimable in ``chunk``; returns how many rows it handled."""
    db = platform.db
    step = await db.fetchrow(
        "SELECT action_type, config, campaign, adhoc FROM drumbeat_workflow_action WHERE id = {}",
        chunk.step_id,
    )
    campaign = await load_campaign_info(platform, step["campaign"]) if step else None
    if campaign is None or not _runs(campaign.state, bool(step["adhoc"])):
        return 0  # deleted, or not running (the reconciler resumes it when it runs again)
    settings = platform.settings
    exhausted = await ledger.fail_exhausted(db, chunk, settings.max_attempts, platform.publish)
    claim = await ledger.claim(db, chunk, settings.lease_seconds, settings.chunk_size)
    if claim.rows:
        action_type = platform.plugins.action_type(step["action_type"])
        backoff = ledger.Backoff.of(settings)
        done_event = "SENT" if action_type.delivery_kind == MESSAGE else "DONE"

        async def record(outcomes: list[Outcome]) -> None:
            await ledger.record(db, claim, outcomes, backoff, campaign_id=chunk.campaign_id,
                                publish=platform.publish, done_event=done_event)

        async with ChunkProgress(db, claim, record, campaign_id=chunk.campaign_id,
                                 step_id=chunk.step_id, lease_seconds=settings.lease_seconds,
                                 max_unrecorded=settings.max_unrecorded) as progress:
            ctx = _context(platform, action_type, campaign, chunk.step_id, step["config"],
                           progress)
            targets = await _targets(platform, chunk, campaign, claim.rows)
            # Accepted by the server before a worker died without recording them: done.
            accepted = {r["id"]: r["message_id"] for r in claim.rows if r.get("message_id")}
            outcomes = [Outcome.done(t, accepted[t.delivery_id]) for t in targets
                        if t.delivery_id in accepted]
            batch = [t for t in targets if t.delivery_id not in accepted]
            try:
                outcomes += list(await action_type.execute(ctx, batch)) if batch else []
            except Exception as exc:  # the whole batch failed: retry it later
                log.exception("action %s failed for chunk %s", step["action_type"], chunk)
                outcomes += [Outcome.retry(t, f"{type(exc).__name__}: {exc}") for t in batch]
            await progress.finish(_complete(targets, outcomes))
        await _after_record(action_type, ctx, targets, outcomes)
    handled = exhausted + len(claim.rows)
    if handled:
        await platform.publish(chunk.campaign_id, {"type": "progress", "step": chunk.step_id})
        await complete_finished(platform, chunk.campaign_id)
    return handled


def _context(platform: Platform, action_type, campaign, step_id: int, raw_config,
             progress: ChunkProgress | None = None) -> ActionContext:
    return ActionContext(
        campaign=campaign,
        step_id=step_id,
        config=action_type.parse_config(_json(raw_config)),
        sender=campaign.sender or campaign.owner,
        settings=platform.settings,
        templates=platform.templates,
        suppression=Suppressions(platform.db),
        db=platform.db,
        publish=platform.events.publish,
        progress=progress,
    )


async def delivery_context(platform: Platform, delivery_id: int
                           ) -> tuple[ActionContext, Target] | None:
    """What a worker would hand the action for one delivery now — the context (the
    campaign, the step's parsed config …) and the target (the recipient's current data and
    sender, the delivery's stable key, its recorded address; ``attempt`` is the next one) —
    for a plugin that redoes a delivery's work by hand (e.g. emailing a document again with
    the same Message-ID). ``None`` when the delivery, its step or its campaign is gone, or
    the step's action type is not installed; a config that no longer validates raises
    ``pydantic.ValidationError``. Nothing is claimed or recorded."""
    row = await platform.db.fetchrow(
        "SELECT d.id, d.campaign, d.step, d.target_kind, d.target_id, d.address, d.attempts,"
        " d.entry_no, a.action_type, a.config FROM drumbeat_delivery d"
        " JOIN drumbeat_workflow_action a ON a.id = d.step WHERE d.id = {}", delivery_id)
    campaign = await load_campaign_info(platform, row["campaign"]) if row else None
    action_type = platform.plugins.action_types.get(row["action_type"]) if row else None
    if campaign is None or action_type is None:
        return None
    ctx = _context(platform, action_type, campaign, row["step"], row["config"])
    chunk = ledger.Chunk(row["campaign"], row["step"], row["id"], row["id"])
    [target] = await _targets(platform, chunk, campaign,
                              [{**row, "attempts": row["attempts"] + 1}])
    return ctx, target


def _runs(state: str, adhoc: bool) -> bool:
    """A step runs while its campaign is RUNNING; an ad-hoc send's in any state but
    CANCELLED (the same rule as ``ledger.claim``)."""
    return state == CampaignState.RUNNING.value or (
        adhoc and state != CampaignState.CANCELLED.value)


async def _after_record(action_type, ctx: ActionContext, targets: Sequence[Target],
                        outcomes: list[Outcome]) -> None:
    """Let the action type follow up on what was committed (see ``after_record``)."""
    done_ids = {o.delivery_id for o in outcomes if o.status == "done"}
    done = [t for t in targets if t.delivery_id in done_ids]
    if not done:
        return
    try:
        await action_type.after_record(ctx, done)
    except Exception:  # advisory: the outcomes are committed
        log.exception("after_record of %s failed", action_type.key)


def _complete(targets: Sequence[Target], outcomes: list[Outcome]) -> list[Outcome]:
    """Every target gets an outcome; one the action forgot is retried."""
    seen = {o.delivery_id for o in outcomes}
    return outcomes + [
        Outcome.retry(t, "the action returned no outcome") for t in targets
        if t.delivery_id not in seen
    ]


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


def target_key(chunk: ledger.Chunk, row: dict) -> str:
    """A delivery's stable key (its Message-ID's left part): campaign, step and target, and
    the workflow entry after the first, so a re-entered recipient's message is new."""
    key = f"c{chunk.campaign_id}.s{chunk.step_id}.{row['target_kind']}{row['target_id']}"
    return f"{key}.e{row['entry_no']}" if row.get("entry_no") else key


async def _targets(platform: Platform, chunk: ledger.Chunk, campaign, rows: list[dict]
                   ) -> list[Target]:
    """Build the batch: each claimed row with its template data and, for a campaign that
    sends as each contact's owner, its own sender."""
    data = await target_data(platform.db, [(r["target_kind"], r["target_id"]) for r in rows])
    targets = []
    for row in rows:
        context = data.get((row["target_kind"], row["target_id"])) or empty_data()
        targets.append(Target(
            delivery_id=row["id"],
            key=target_key(chunk, row),
            kind=row["target_kind"],
            id=row["target_id"],
            address=row["address"],
            attempt=row["attempts"],
            data=context,
            sender=target_sender(campaign, context),
        ))
    return targets
