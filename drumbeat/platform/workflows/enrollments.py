"""Enrollment rows: one per recipient of a workflow campaign — its version, state, status
and timers — and its journey (``drumbeat_enrollment_step``, one row per transition).

Every change is one conditional UPDATE guarded by the enrollment's transition number
(``step_no``) and status, so when two schedulers decide the same transition only one
UPDATE matches; the journey's unique ``(enrollment, step_no)`` index is the safety net.

Statuses: ``ACTIVE`` (the state's actions are running, or it is about to move on),
``WAITING`` (for a delay, an event or a timeout), ``PAUSED`` (by hand), ``EXITED`` (a goal
was met), ``COMPLETED`` (a state without transitions was reached) and ``CANCELLED`` (the
campaign was cancelled while it was unfinished). Times are epoch
seconds of the engine's clock (:mod:`.clock`).
"""

from __future__ import annotations

from enum import Enum
from typing import Sequence

from drumbeat.platform import ledger
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.database import Database
from drumbeat.platform.launch_plan import emails_off
from drumbeat.platform.workflows.definitions import Definitions


class Status(str, Enum):
    ACTIVE = "ACTIVE"
    WAITING = "WAITING"
    PAUSED = "PAUSED"
    EXITED = "EXITED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


#: The notice published on a campaign's channel after its enrollments moved (a
#: ``campaignEnrollmentProgress`` subscription then re-reads the counts).
ENROLLMENTS_CHANGED = {"type": "enrollments"}

RUNNING = (Status.ACTIVE.value, Status.WAITING.value)
UNFINISHED = (*RUNNING, Status.PAUSED.value)

COLUMNS = ("e.id, e.campaign, e.recipient, e.contact, e.version, e.state_key, e.status,"
           " e.step_no, e.entered_at, e.due_at, e.check_at, e.event_cursor,"
           " e.paused_status, e.finished_at, e.entry_no, e.since_event")


def _cast(kind: str) -> str:
    """A typed parameter (PostgreSQL cannot infer a SELECT list parameter's type)."""
    return f"CAST({{}} AS {kind})"


async def enroll_all(db: Database, campaign_id: int, version: int, start_key: str,
                     at: float) -> None:
    """Enrol every recipient of the campaign in ``start_key`` (in the caller's transaction);
    recipients enrolled already are left alone."""
    await db.execute(
        "INSERT INTO drumbeat_enrollment (campaign, recipient, contact, version, state_key,"
        " status, step_no, entered_at, due_at, check_at, event_cursor, paused_status,"
        " finished_at)"
        f" SELECT r.campaign, r.id, r.contact, {_cast('INTEGER')}, {_cast('VARCHAR(100)')},"
        f" 'ACTIVE', 0, {_cast('DOUBLE PRECISION')}, NULL, {_cast('DOUBLE PRECISION')}, 0,"
        " NULL, NULL FROM drumbeat_campaign_recipient r WHERE r.campaign = {}"
        " ON CONFLICT DO NOTHING", version, start_key, at, at, campaign_id)
    await db.execute(
        "INSERT INTO drumbeat_enrollment_step (campaign, enrollment, step_no, from_state,"
        " to_state, via, at, member)"
        " SELECT e.campaign, e.id, 0, NULL, e.state_key, 'START', e.entered_at, NULL"
        " FROM drumbeat_enrollment e WHERE e.campaign = {} AND e.step_no = 0"
        " AND NOT EXISTS (SELECT 1 FROM drumbeat_enrollment_step s"
        "                 WHERE s.enrollment = e.id AND s.step_no = 0)", campaign_id)


async def enroll_start(db: Database, campaign_id: int) -> None:
    """Enrol the recipients of a launching workflow campaign in the start state of its
    current version (in the launch's transaction)."""
    from drumbeat.platform.workflows import clock
    from drumbeat.platform.workflows.definitions import current_version, load_version

    number = await current_version(db, campaign_id)
    version = await load_version(db, campaign_id, number) if number else None
    start = next((k for k, s in (version.states if version else {}).items() if s.get("start")),
                 None)
    if start is not None:
        await enroll_all(db, campaign_id, number, start, clock.now())


async def get(db: Database, enrollment_id: int) -> dict | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM drumbeat_enrollment e WHERE e.id = {{}}",
                             enrollment_id)


async def move(db: Database, row: dict, to_key: str, via: str, at: float, *,
               statuses: Sequence[str] = RUNNING, cursor: int | None = None,
               member_id: int | None = None) -> dict | None:
    """Move the enrollment to ``to_key`` (ACTIVE, entered at ``at``) if it is still as
    ``row`` says (same transition number, one of ``statuses``) and record the journey row —
    in the caller's transaction. Returns the row as it is now, or None if another
    scheduler (or a person) changed it first."""
    marks = ", ".join("{}" for _ in statuses)
    cursor = row["event_cursor"] if cursor is None else cursor
    moved = await db.fetchval(
        "UPDATE drumbeat_enrollment SET state_key = {}, status = 'ACTIVE', step_no = step_no + 1,"
        " entry_no = step_no + 1, entered_at = {}, due_at = NULL, check_at = {},"
        " event_cursor = {},"
        " paused_status = NULL, finished_at = NULL"
        f" WHERE id = {{}} AND step_no = {{}} AND status IN ({marks}) RETURNING step_no",
        to_key, at, at, cursor, row["id"], row["step_no"], *statuses)
    if moved is None:
        return None
    await db.execute(
        "INSERT INTO drumbeat_enrollment_step (campaign, enrollment, step_no, from_state,"
        " to_state, via, at, member) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        row["campaign"], row["id"], moved, row["state_key"], to_key, via, at, member_id)
    return {**row, "state_key": to_key, "status": Status.ACTIVE.value, "step_no": moved,
            "entry_no": moved, "entered_at": at, "due_at": None, "check_at": at, "event_cursor": cursor,
            "paused_status": None, "finished_at": None}


async def finish(db: Database, row: dict, status: Status, at: float) -> bool:
    """End the enrollment (COMPLETED or EXITED) if it is still as ``row`` says."""
    marks = ", ".join("{}" for _ in RUNNING)
    return await db.fetchval(
        "UPDATE drumbeat_enrollment SET status = {}, finished_at = {}, due_at = NULL,"
        f" check_at = NULL WHERE id = {{}} AND step_no = {{}} AND status IN ({marks})"
        " RETURNING id", status.value, at, row["id"], row["step_no"], *RUNNING) is not None


async def cancel_all(db: Database, campaign_id: int, at: float) -> None:
    """The campaign was cancelled: its unfinished enrollments end as CANCELLED (in the
    caller's transaction)."""
    marks = ", ".join("{}" for _ in UNFINISHED)
    await db.execute(
        "UPDATE drumbeat_enrollment SET status = 'CANCELLED', finished_at = {}, due_at = NULL,"
        f" check_at = NULL, paused_status = NULL WHERE campaign = {{}} AND status IN ({marks})",
        at, campaign_id, *UNFINISHED)


async def wait(db: Database, row: dict, due_at: float | None, check_at: float) -> dict | None:
    """ACTIVE → WAITING (or a WAITING row's next look) with its timer."""
    marks = ", ".join("{}" for _ in RUNNING)
    done = await db.fetchval(
        "UPDATE drumbeat_enrollment SET status = 'WAITING', due_at = {}, check_at = {}"
        f" WHERE id = {{}} AND step_no = {{}} AND status IN ({marks}) RETURNING id",
        due_at, check_at, row["id"], row["step_no"], *RUNNING)
    return None if done is None else {**row, "status": Status.WAITING.value, "due_at": due_at,
                                      "check_at": check_at}


async def look_again(db: Database, row: dict, check_at: float) -> None:
    """Nothing to do yet: look at the enrollment again at ``check_at``."""
    await db.execute("UPDATE drumbeat_enrollment SET check_at = {} WHERE id = {}"
                     " AND step_no = {} AND status = {}",
                     check_at, row["id"], row["step_no"], row["status"])


async def enter_actions(db: Database, plugins, definitions: Definitions, row: dict,
                        hold_seconds: float, skipped: list[int] | None = None
                        ) -> list[ledger.Chunk]:
    """:func:`enter_actions_many` for one enrollment."""
    return await enter_actions_many(db, plugins, definitions, [row], hold_seconds, skipped)


#: Enrollments entered per statement group (keeps IN lists well under the databases'
#: parameter limits).
ENTER_BATCH = 500


async def enter_actions_many(db: Database, plugins, definitions: Definitions,
                             rows: Sequence[dict], hold_seconds: float,
                             skipped: list[int] | None = None) -> list[ledger.Chunk]:
    """Snapshot the ledger rows of the actions of the state each enrollment entered, for its
    recipient and entry (``entry_no``), in the caller's transaction; returns the chunks to
    dispatch once committed.

    Enrollments in the same campaign, version and state share one audience resolution and
    one bulk insert per action. The ledger's key (step, recipient, target, entry) makes a
    repeat a no-op, so an entry is acted on once however often this runs for it.
    ``skipped`` gathers the ids of the SKIPPED events written (to announce after commit)."""
    groups: dict[tuple[int, int, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["campaign"], row["version"], row["state_key"]), []).append(row)
    chunks: list[ledger.Chunk] = []
    for (campaign_id, number, key), members in groups.items():
        version = await definitions.version(campaign_id, number)
        steps = version.steps.get(key, []) if version else []
        if not steps:
            continue
        campaign = await definitions.campaign(campaign_id)
        for start in range(0, len(members), ENTER_BATCH):
            batch = members[start:start + ENTER_BATCH]
            chunks += await _enter_batch(db, plugins, campaign, steps, batch, hold_seconds,
                                         skipped if skipped is not None else [])
    return chunks


async def _enter_batch(db: Database, plugins, campaign: dict, steps: list[dict],
                       rows: list[dict], hold_seconds: float, skipped: list[int]
                       ) -> list[ledger.Chunk]:
    entries = {row["recipient"]: int(row.get("entry_no") or 0) for row in rows}
    resolved: dict[bool, list] = {}
    for step in steps:
        action_type = plugins.action_types.get(step["action_type"])
        if action_type is None:  # not installed here: nothing this process can run
            continue
        if action_type.needs_address not in resolved:
            resolved[action_type.needs_address] = await resolve_audience(
                db, campaign, action_type.needs_address, only=list(entries))
        targets = resolved[action_type.needs_address]
        if action_type.email_only and not campaign["send_emails"]:
            targets = emails_off(targets)
        skipped += await ledger.snapshot(db, campaign["id"], step["id"], targets, hold_seconds,
                                         entries)
    ids = [s["id"] for s in steps]
    pending = await db.fetch(
        "SELECT id, campaign, step, recipient, entry_no FROM drumbeat_delivery"
        f" WHERE recipient IN ({', '.join('{}' for _ in entries)}) AND state = 'pending'"
        f" AND step IN ({', '.join('{}' for _ in ids)})", *entries, *ids)
    return ledger.chunks_of([p for p in pending if entries.get(p["recipient"]) == p["entry_no"]],
                            1000)


async def entry_progress(db: Database, row: dict) -> tuple[int, int]:
    """(ledger rows, unfinished ones) of the enrollment's current entry: the actions of the
    state it entered, whichever version they were of; ad-hoc sends do not count."""
    found = await db.fetchrow(
        "SELECT count(*) AS total, COALESCE(sum(CASE WHEN d.state IN ('pending', 'claimed')"
        " THEN 1 ELSE 0 END), 0) AS unfinished FROM drumbeat_delivery d"
        " WHERE d.recipient = {} AND d.entry_no = {} AND NOT EXISTS (SELECT 1"
        " FROM drumbeat_workflow_action a WHERE a.id = d.step AND a.adhoc = {})",
        row["recipient"], int(row.get("entry_no") or 0), True)
    return int(found["total"]), int(found["unfinished"])


async def entered(db: Database, row: dict) -> bool:
    """Whether the enrollment's current entry has ledger rows (its actions were entered)."""
    return (await entry_progress(db, row))[0] > 0


async def journey(db: Database, enrollment_id: int) -> list[dict]:
    """The states the enrollment went through, oldest first (see :func:`journeys`)."""
    return (await journeys(db, [enrollment_id]))[0]


async def journeys(db: Database, enrollment_ids: Sequence[int]) -> list[list[dict]]:
    """Each enrollment's journey, oldest first — state, entered, left (the next entry's
    time; for the last one its finish time, or None while it is there), via — in two
    queries for them all (aligned with ``enrollment_ids``)."""
    if not enrollment_ids:
        return []
    marks = ", ".join("{}" for _ in enrollment_ids)
    steps = await db.fetch(
        "SELECT enrollment, step_no, from_state, to_state, via, at, member"
        f" FROM drumbeat_enrollment_step WHERE enrollment IN ({marks})"
        " ORDER BY enrollment, step_no", *enrollment_ids)
    finished = {r["id"]: r["finished_at"] for r in await db.fetch(
        f"SELECT id, finished_at FROM drumbeat_enrollment WHERE id IN ({marks})",
        *enrollment_ids)}
    by_id: dict[int, list[dict]] = {i: [] for i in enrollment_ids}
    for step in steps:
        by_id[step["enrollment"]].append(step)
    result = []
    for enrollment_id in enrollment_ids:
        own = by_id[enrollment_id]
        result.append([{
            "state_key": step["to_state"], "entered_at": step["at"],
            "left_at": own[i + 1]["at"] if i + 1 < len(own) else finished.get(enrollment_id),
            "via": step["via"], "member": step["member"], "step_no": step["step_no"],
        } for i, step in enumerate(own)])
    return result


async def page(db: Database, campaign_id: int, *, status: str | None, state_key: str | None,
               after_id: int, size: int) -> list[dict]:
    """A page of the campaign's enrollments by id (``size`` + 1 rows: one tells there is
    more)."""
    where, args = ["e.campaign = {}", "e.id > {}"], [campaign_id, after_id]
    if status is not None:
        where.append("e.status = {}")
        args.append(status)
    if state_key is not None:
        where.append("e.state_key = {}")
        args.append(state_key)
    return await db.fetch(
        f"SELECT {COLUMNS} FROM drumbeat_enrollment e WHERE {' AND '.join(where)}"
        f" ORDER BY e.id LIMIT {int(size) + 1}", *args)


async def counts(db: Database, campaign_id: int) -> list[dict]:
    """How many of the campaign's enrollments are in each (version, state, status), with the
    state's name in that version (its key when the version has no such state)."""
    return await db.fetch(
        "SELECT c.version, c.state_key, c.status, c.n, COALESCE(s.name, c.state_key) AS state_name"
        " FROM (SELECT version, state_key, status, count(*) AS n FROM drumbeat_enrollment"
        "  WHERE campaign = {} GROUP BY version, state_key, status) c"
        " LEFT JOIN drumbeat_workflow_state s ON s.campaign = {} AND s.version = c.version"
        "  AND s.state_key = c.state_key"
        " ORDER BY c.version, c.state_key, c.status", campaign_id, campaign_id)


async def by_ids(db: Database, ids: Sequence[int]) -> list[dict | None]:
    if not ids:
        return []
    rows = {r["id"]: r for r in await db.fetch(
        f"SELECT {COLUMNS} FROM drumbeat_enrollment e"
        f" WHERE e.id IN ({', '.join('{}' for _ in ids)})", *ids)}
    return [rows.get(i) for i in ids]


async def of_contact(db: Database, campaign_id: int, contact_id: int) -> dict | None:
    return await db.fetchrow(
        f"SELECT {COLUMNS} FROM drumbeat_enrollment e WHERE e.campaign = {{}}"
        " AND e.contact = {} ORDER BY e.id LIMIT 1", campaign_id, contact_id)
