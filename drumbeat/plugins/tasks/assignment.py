"""Who gets each task: round-robin over named members, one named member, or the owner of
the addressed contact, company or lead (else the campaign's owner).

Round-robin is dealt by the delivery's rank among the step's non-skipped deliveries, so it
is balanced and the same whichever worker process handles which chunk, and on a retry.
"""

from __future__ import annotations

import base64
from typing import Sequence

from drumbeat import ActionContext, Target
from drumbeat.plugins.tasks.config import Assignment, Strategy
from drumbeat.plugins.tasks.tables import Task

OWNER_TABLES = {"contact": "drumbeat_contact", "company": "drumbeat_company",
                "lead": "drumbeat_lead"}


class AssignmentProblem(Exception):
    """The configured members cannot be used (unknown or inactive)."""


def _marks(values: Sequence) -> str:
    return ", ".join("{}" for _ in values) or "NULL"


def member_id_of(ref: str) -> int | None:
    """A plain id or a ``TeamMember`` global id as a number (``None`` for an email)."""
    if ref.isdigit():
        return int(ref)
    if "@" in ref:
        return None
    try:
        kind, _, value = base64.b64decode(ref, validate=True).decode().partition(":")
    except (ValueError, UnicodeError):
        return -1
    return int(value) if kind == "TeamMember" and value.isdigit() else -1


async def resolve_members(refs: Sequence[str]) -> list[int]:
    """The active members named by ``refs``, in order; raises :class:`AssignmentProblem`
    naming every one that is not an active team member."""
    ids = [member_id_of(r) for r in refs]
    emails = [r.lower() for r, i in zip(refs, ids) if i is None]
    numbers = [i for i in ids if i is not None]
    rows = await Task.raw(
        f"SELECT id, lower(email) AS email FROM drumbeat_team_member WHERE active = {{}}"
        f" AND (id IN ({_marks(numbers)}) OR lower(email) IN ({_marks(emails)}))",
        True, *numbers, *emails)
    by_id = {r["id"] for r in rows}
    by_email = {r["email"]: r["id"] for r in rows}
    result, missing = [], []
    for ref, member_id in zip(refs, ids):
        found = by_email.get(ref.lower()) if member_id is None else (
            member_id if member_id in by_id else None)
        if found is None:
            missing.append(ref)
        else:
            result.append(found)
    if missing:
        raise AssignmentProblem(
            "assignment.members: not an active team member: " + ", ".join(missing))
    return result


async def ranks(step_id: int, batch: Sequence[Target]) -> dict[int, int]:
    """Each target's 0-based rank among its step's deliveries that were not skipped."""
    first, last = min(t.delivery_id for t in batch), max(t.delivery_id for t in batch)
    before = await Task.raw(
        "SELECT count(*) AS n FROM drumbeat_delivery WHERE step = {} AND id < {}"
        " AND state <> 'skipped'", step_id, first)
    rows = await Task.raw(
        "SELECT id FROM drumbeat_delivery WHERE step = {} AND id BETWEEN {} AND {}"
        " AND state <> 'skipped' ORDER BY id", step_id, first, last)
    base = int(before[0]["n"])
    return {row["id"]: base + i for i, row in enumerate(rows)}


async def owners(ctx: ActionContext, batch: Sequence[Target]) -> dict[int, int]:
    """Each target's active owner, else the campaign's owner (by delivery id)."""
    owner_of: dict[tuple[str, int], int] = {}
    for kind, table in OWNER_TABLES.items():
        ids = sorted({t.id for t in batch if t.kind == kind})
        if not ids:
            continue
        rows = await Task.raw(
            f"SELECT r.id, r.owner FROM {table} r JOIN drumbeat_team_member m ON m.id = r.owner"
            f" WHERE m.active = {{}} AND r.id IN ({_marks(ids)})", True, *ids)
        owner_of.update({(kind, r["id"]): r["owner"] for r in rows})
    campaign = await Task.raw("SELECT owner FROM drumbeat_campaign WHERE id = {}",
                              ctx.campaign.id)
    fallback = campaign[0]["owner"]
    return {t.delivery_id: owner_of.get((t.kind, t.id), fallback) for t in batch}


async def assignees(ctx: ActionContext, assignment: Assignment, batch: Sequence[Target]
                    ) -> dict[int, int]:
    """The assignee of each target's task (by delivery id)."""
    if assignment.strategy is Strategy.CONTACT_OWNER:
        return await owners(ctx, batch)
    members = await resolve_members(assignment.members)
    if assignment.strategy is Strategy.MEMBER:
        return {t.delivery_id: members[0] for t in batch}
    rank = await ranks(ctx.step_id, batch)
    return {t.delivery_id: members[rank.get(t.delivery_id, t.delivery_id) % len(members)]
            for t in batch}
