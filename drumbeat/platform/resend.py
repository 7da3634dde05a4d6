"""Resend (``campaignResend``): send one step of a launched campaign again to the targets
whose delivery of it failed, or was not opened, or not clicked.

* **Who.** Per target of the step (recipient, target kind and id) only its latest delivery
  (the highest id) counts: ``FAILED`` — it failed; ``UNOPENED`` / ``UNCLICKED`` — it was
  sent (``done``) and has no non-bot open / click (``marks``, kept by triggers). A target
  resent and then opened is not unopened any more. ``UNOPENED`` and ``UNCLICKED`` only
  apply to a step whose action type sends messages.
* **New rows.** Each resent target gets a new ledger row with a negative entry number:
  -1 for its first resend in the step, -2 for the next… — workflow entries are the
  enrollment's transition number (>= 0), so a resend never takes a future entry's key.
  The entry is part of the delivery key, hence of the Message-ID
  (``<c1.s2.contact3.e-1.<hash>@host>``: ``-`` is an ``atext`` character, so the left
  part stays a dot-atom, RFC 5322 §3.2.3), distinct from every earlier message.
* **Audience.** The chosen recipients are resolved again with the launch's rules, so a
  target unsubscribed, bounced or suppressed since (or no longer addressed by the
  campaign's dispatch strategy: ``NO_ADDRESS_FOR_STRATEGY``) is written ``skipped`` with
  its reason, not sent. Only the selected targets are written.
* **When.** The campaign is RUNNING, PAUSED (the rows wait for the resume) or COMPLETED
  (it returns to RUNNING — an audited move — and completes again once the resent
  deliveries are final). Refused while the step has deliveries in flight (pending or
  claimed). Campaign owner or admin; audited (a resend that selects nobody writes
  nothing, not even an audit entry). ``dry_run`` writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

from drumbeat.platform import audit, ledger
from drumbeat.platform.actions import MESSAGE
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.dispatch import TargetRow, reasons_count
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.launch_plan import emails_off
from drumbeat.platform.permissions import require_campaign_editor, require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import CampaignState, SkipReason
from drumbeat.platform.team import Member, now

log = logging.getLogger(__name__)
S = CampaignState

#: Campaign states a resend is allowed in.
RESENDABLE = (S.RUNNING, S.PAUSED, S.COMPLETED)
#: ``drumbeat_delivery.marks`` bits (``drumbeat.platform.delivery_marks``): a non-bot
#: open, a non-bot click.
OPENED, CLICKED = 2, 4


class ResendFilter(str, Enum):
    FAILED = "FAILED"
    UNOPENED = "UNOPENED"
    UNCLICKED = "UNCLICKED"


#: The condition on a target's latest delivery (columns of the selection below).
CONDITIONS: Mapping[ResendFilter, str] = {
    ResendFilter.FAILED: "state = 'failed'",
    ResendFilter.UNOPENED: f"state = 'done' AND (marks & {OPENED}) = 0",
    ResendFilter.UNCLICKED: f"state = 'done' AND (marks & {CLICKED}) = 0",
}
#: Filters that need a step whose deliveries are messages.
MESSAGE_FILTERS = (ResendFilter.UNOPENED, ResendFilter.UNCLICKED)


@dataclass(frozen=True)
class ResendResult:
    campaign: dict
    count: int  # targets selected
    queued: int  # of them, written pending (to be sent); for a dry run: would be
    skipped: int  # of them, written skipped with a reason; for a dry run: would be
    reasons: dict[str, int] = field(default_factory=dict)  # skip reason → targets


@dataclass(frozen=True)
class _Planned:
    row: TargetRow  # the target as resolved now (its skip reason, if any)
    entry: int  # its new entry number (negative)


async def resend(platform: Platform, member: Member | None, campaign_id: int, step_id: int,
                 filter: ResendFilter, dry_run: bool = False) -> ResendResult:
    """Send step ``step_id`` of the campaign again to the targets ``filter`` selects (see
    the module's docstring); with ``dry_run`` only count them."""
    require_member(member)
    campaign = await get_campaign(campaign_id)
    if campaign is None:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, ["input", "campaignId"])
    require_campaign_editor(member, campaign)
    db = platform.db
    problems = Problems()
    state = S(campaign["state"])
    if state not in RESENDABLE:
        problems.add(f"A {state.value} campaign cannot resend: a resend needs a launched "
                     "campaign (RUNNING, PAUSED or COMPLETED).", ErrorCode.INVALID_STATE,
                     "input", "campaignId")
    step = await db.fetchrow(
        "SELECT id, action_type, adhoc FROM drumbeat_workflow_action"
        " WHERE id = {} AND campaign = {}", step_id, campaign_id)
    action_type = None
    if step is None:
        problems.add("The campaign has no such step.", ErrorCode.NOT_FOUND, "input", "stepId")
    else:
        action_type = platform.plugins.action_types.get(step["action_type"])
        if action_type is None:
            problems.add(f"The action type {step['action_type']!r} is not installed.",
                         ErrorCode.UNKNOWN_ACTION_TYPE, "input", "stepId")
        elif filter in MESSAGE_FILTERS and not sends_messages(action_type):
            problems.add(f"{filter.value} applies to a step that sends messages; this step's "
                         f"action ({action_type.key}) makes work items. Use FAILED.",
                         ErrorCode.INVALID, "input", "filter")
    problems.raise_if_any()

    if dry_run:
        await _require_settled(db, step_id)
        planned = await _plan(db, campaign, action_type, step_id, filter)
        return _result(campaign, planned)

    settings = platform.settings
    async with db.transaction():
        # Takes the campaign's row lock (PostgreSQL; SQLite's transaction is IMMEDIATE), so
        # concurrent resends run one after the other: the later one finds the earlier's
        # rows in flight. Also re-checks the state (a cancel meanwhile comes first).
        held = await db.fetchrow(
            f"UPDATE drumbeat_campaign SET state = state WHERE id = {{}}"
            f" AND state IN ({', '.join('{}' for _ in RESENDABLE)}) RETURNING state",
            campaign_id, *(s.value for s in RESENDABLE))
        if held is None:
            raise DomainError.one("The campaign's state changed meanwhile; reload and try "
                                  "again.", ErrorCode.INVALID_STATE, ["input", "campaignId"])
        state = S(held["state"])
        await _require_settled(db, step_id)
        planned = await _plan(db, campaign, action_type, step_id, filter)
        result = _result(campaign, planned)
        if not planned:  # nothing to resend: nothing written, nothing to audit
            return result
        skipped: list[int] = []  # the SKIPPED events written, announced after commit
        for entry in sorted({p.entry for p in planned}, reverse=True):
            group = [p for p in planned if p.entry == entry]
            skipped += await ledger.snapshot(db, campaign_id, step_id, [p.row for p in group],
                                             settings.redeliver_after_seconds,
                                             {p.row.recipient_id: entry for p in group})
        reopen = state is S.COMPLETED and result.queued > 0
        if reopen:
            stamp = now()
            await db.execute(
                "UPDATE drumbeat_campaign SET state = {}, completed_at = NULL, updated_at = {}"
                " WHERE id = {} AND state = {}",
                S.RUNNING.value, stamp, campaign_id, S.COMPLETED.value)
        chunks = await ledger.pending_chunks(db, campaign_id, step_id, settings.chunk_size)
        await audit.record(member, campaign_id, "campaign.resend", [
            audit.Change("step", None, step_id),
            audit.Change("filter", None, filter),
            audit.Change("selected", None, result.count),
            audit.Change("queued", None, result.queued),
            audit.Change("skipped", None, result.reasons),
        ])
        if reopen:
            await audit.record(member, campaign_id, "campaign.transition",
                               [audit.Change("state", S.COMPLETED, S.RUNNING)])
    # A PAUSED campaign's rows wait: the resume enqueues them (an ad-hoc step runs anyway).
    if chunks and (state is not S.PAUSED or step["adhoc"]):
        try:
            await platform.dispatch(chunks)
        except Exception:  # the rows are safe in the ledger: the reconciler sends them later
            log.exception("enqueueing resend of campaign %s step %s failed", campaign_id,
                          step_id)
    await ledger.announce(db, platform.publish, skipped)
    if reopen:
        await platform.publish(campaign_id, {"type": "resumed"})
    await platform.publish(campaign_id, {"type": "progress", "step": step_id})
    return ResendResult(await get_campaign(campaign_id), result.count, result.queued,
                        result.skipped, result.reasons)


def sends_messages(action_type) -> bool:
    """Whether the action type's deliveries are messages to the recipient (email…), not
    work items (tasks, documents, CRM updates): ``ActionType.delivery_kind``."""
    return action_type.delivery_kind == MESSAGE


async def _require_settled(db, step_id: int) -> None:
    """Refuse while the step has deliveries in flight (pending, waiting for a retry, or
    claimed by a worker)."""
    busy = await db.fetchval(
        "SELECT count(*) FROM drumbeat_delivery WHERE step = {}"
        " AND state IN ('pending', 'claimed')", step_id)
    if busy:
        raise DomainError.one(
            f"This step still has {busy} deliveries in flight; resend once they are final.",
            ErrorCode.INVALID_STATE, ["input", "stepId"])


async def _select(db, step_id: int, filter: ResendFilter) -> list[dict]:
    """The targets of the step whose latest delivery matches ``filter``, each with the
    lowest entry number it has in the step (``low``)."""
    return await db.fetch(
        f"""
        SELECT recipient, target_kind, target_id, address, low FROM (
            SELECT recipient, target_kind, target_id, address, state, marks,
                   row_number() OVER (PARTITION BY recipient, target_kind, target_id
                                      ORDER BY id DESC) AS latest,
                   min(entry_no) OVER (PARTITION BY recipient, target_kind, target_id) AS low
            FROM drumbeat_delivery WHERE step = {{}}
        ) t
        WHERE latest = 1 AND {CONDITIONS[filter]}
        ORDER BY recipient, target_kind, target_id
        """,
        step_id)


async def _plan(db, campaign: dict, action_type, step_id: int, filter: ResendFilter
                ) -> list[_Planned]:
    """The selected targets as the audience resolves them now, with their new entry."""
    selected = await _select(db, step_id, filter)
    if not selected:
        return []
    resolved = await resolve_audience(db, campaign, action_type.needs_address,
                                      only=sorted({s["recipient"] for s in selected}))
    if action_type.email_only and not campaign["send_emails"]:
        resolved = emails_off(resolved)
    now_as: dict[tuple[int, str, int], TargetRow] = {}
    for row in resolved:
        now_as.setdefault((row.recipient_id, row.kind, row.id), row)
    planned = []
    for s in selected:
        key = (s["recipient"], s["target_kind"], s["target_id"])
        row = now_as.get(key) or TargetRow(
            *key, s["address"], SkipReason.NO_ADDRESS_FOR_STRATEGY.value)
        planned.append(_Planned(row, min(int(s["low"]), 0) - 1))
    return planned


def _result(campaign: dict, planned: list[_Planned]) -> ResendResult:
    rows = [p.row for p in planned]
    queued = sum(1 for r in rows if not r.skip_reason)
    return ResendResult(campaign, len(rows), queued, len(rows) - queued,
                        dict(sorted(reasons_count(rows).items())))
