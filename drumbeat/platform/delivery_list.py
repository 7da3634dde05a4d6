"""Every recipient's story: a campaign's deliveries as rows a person reads — the recipient
(kind, id, name) and address, the step (state name and key, action type), the state,
attempts, the last error or skip reason, and the times (queued, done, first open, first
click, reply, reaction) the ledger and its triggers keep.

* :func:`pages` — ``Campaign.deliveries``: filtered, ordered by id, keyset-paginated in
  SQL (``size + 1`` rows tell whether there is more), each page read in id order from an
  index, one limited range per delivery state (see :func:`_page_ids`): a page costs the
  same whatever the ledger's size, and one statement serves a page of campaigns. Only a
  ``reason`` is matched by reading rows (no index holds parts of errors).
* :func:`of_recipients` / :func:`of_contact` and :func:`place` — ``recipientJourney``:
  a recipient's deliveries, each placed in the state entry of its enrollment it belongs
  to (or in one entry per state when nothing enrolled it, as in a quick campaign).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from drumbeat.platform.database import Database
from drumbeat.platform.delivery_labels import LABEL_COLUMNS, LABEL_JOINS
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.validation import search_text_problem
from drumbeat.platform.records import LIKE_ESCAPE, escape_like, lower_sql

MAX_REASON_CHARS = 200
MAX_ACTION_TYPE_CHARS = 100
STATES = ("pending", "claimed", "done", "failed", "skipped")
FINAL = ("done", "failed", "skipped")
#: Ids per IN list (well under both databases' parameter limits).
BATCH = 500

COLUMNS = f"""d.id, d.campaign, d.step, d.recipient, d.target_kind, d.target_id, d.address,
  d.state, d.skip_reason, d.attempts, d.last_error, d.message_id, d.created_at,
  d.finished_at, d.variant, d.entry_no, d.first_open_at, d.first_click_at, d.replied_at,
  d.reaction_seconds, a.state AS state_id, a.adhoc, {LABEL_COLUMNS}"""
SELECT = f"SELECT {COLUMNS} FROM drumbeat_delivery d\n{LABEL_JOINS}"


@dataclass(frozen=True)
class DeliveryFilter:
    """All given conditions must hold. ``reason``: a skip reason (exactly), or a part of
    the last error in any letter case (``%`` and ``_`` match literally)."""

    state: str | None = None  # one of STATES
    step_id: int | None = None
    action_type: str | None = None
    reason: str | None = None


def checked(f: DeliveryFilter) -> DeliveryFilter:
    """``f`` with an empty reason dropped; raises ``DomainError`` for values out of bounds."""
    problems = Problems()
    if f.state is not None and f.state not in STATES:
        problems.add(f"Unknown delivery state {f.state!r}.", ErrorCode.INVALID, "filter", "state")
    for name, value, most in (("reason", f.reason, MAX_REASON_CHARS),
                              ("actionType", f.action_type, MAX_ACTION_TYPE_CHARS)):
        if value is not None and len(value) > most:
            problems.add(f"At most {most} characters.", ErrorCode.TOO_LONG, "filter", name)
        elif value is not None and search_text_problem(value) is not None:
            problems.add(search_text_problem(value), ErrorCode.INVALID, "filter", name)
    problems.raise_if_any()
    reason = f.reason if f.reason else None
    return DeliveryFilter(f.state, f.step_id, f.action_type, reason)


def _reason(dialect: str, reason: str) -> tuple[str, list[Any]]:
    """The reason condition: the skip reason exactly, or a part of ``d.last_error`` in any
    letter case (SQLite's LIKE folds ASCII by itself; other text compares with the column's
    Unicode lower case)."""
    if dialect == "postgres":
        contains, text = f"d.last_error ILIKE {{}} ESCAPE '{LIKE_ESCAPE}'", reason
    else:
        column = "d.last_error" if reason.isascii() else lower_sql("d.last_error", dialect,
                                                                   reason)
        contains, text = f"{column} LIKE {{}} ESCAPE '{LIKE_ESCAPE}'", reason.lower()
    return (f" AND (d.skip_reason = {{}} OR {contains})",
            [reason, "%" + escape_like(text) + "%"])


def _page_ids(dialect: str, campaign_id: int, f: DeliveryFilter, after_id: int, size: int
              ) -> tuple[str, list[Any]]:
    """SQL for the ids of one campaign's page (``size`` of them, ascending), read in id order
    from an index per state — never a sort of every matching row.

    PostgreSQL walks ``(step, state, id)`` for each step of the campaign and each state (a
    LATERAL join); SQLite, whose ``(campaign, state)`` index is ordered by rowid within a
    state, walks it (or ``(step, state, id)`` for a step) once per state (``UNION ALL``)."""
    states = [f.state] if f.state is not None else list(STATES)
    extra, extra_args = _reason(dialect, f.reason) if f.reason is not None else ("", [])
    if dialect == "postgres":
        steps, step_args = "", []
        if f.step_id is not None:
            steps, step_args = " AND x.id = {}", [f.step_id]
        if f.action_type is not None:
            steps, step_args = steps + " AND x.action_type = {}", step_args + [f.action_type]
        values = ", ".join("(CAST({} AS TEXT))" for _ in states)
        return (f"SELECT k.id FROM drumbeat_workflow_action x CROSS JOIN (VALUES {values})"
                " AS st(state) CROSS JOIN LATERAL (SELECT d.id FROM drumbeat_delivery d"
                f" WHERE d.step = x.id AND d.state = st.state AND d.id > {{}}{extra}"
                " ORDER BY d.id LIMIT {}) AS k"
                f" WHERE x.campaign = {{}}{steps} ORDER BY k.id LIMIT {{}}",
                [*states, after_id, *extra_args, size, campaign_id, *step_args, size])
    # With a step, ``+d.campaign`` keeps the planner on the step's index (the unary plus
    # makes the term no index's; it still holds, so a step of another campaign finds nothing).
    where = "+d.campaign = {} AND d.step = {}" if f.step_id is not None else "d.campaign = {}"
    args: list[Any] = [campaign_id] + ([f.step_id] if f.step_id is not None else [])
    if f.action_type is not None:
        where += (" AND d.step IN (SELECT x.id FROM drumbeat_workflow_action x"
                  " WHERE x.campaign = {} AND x.action_type = {})")
        args += [campaign_id, f.action_type]
    branches, values = [], []
    for i, state in enumerate(states):
        branches.append(f"SELECT id FROM (SELECT d.id FROM drumbeat_delivery d WHERE {where}"
                        f" AND d.state = {{}} AND d.id > {{}}{extra} ORDER BY d.id LIMIT {{}})"
                        f" AS s{i}")
        values += [*args, state, after_id, *extra_args, size]
    return " UNION ALL ".join(branches) + " ORDER BY id LIMIT {}", [*values, size]


#: Campaigns per statement of :func:`pages`.
CAMPAIGNS_PER_STATEMENT = 20


async def pages(db: Database, campaign_ids: Sequence[int], f: DeliveryFilter, after_id: int,
                size: int) -> dict[int, list[dict]]:
    """Up to ``size + 1`` deliveries of each campaign after ``after_id``, by id, matching
    ``f`` (checked) — one statement for up to CAMPAIGNS_PER_STATEMENT campaigns."""
    found: dict[int, list[dict]] = {i: [] for i in campaign_ids}
    ids = list(found)
    for start in range(0, len(ids), CAMPAIGNS_PER_STATEMENT):
        parts, args = [], []
        for i, campaign_id in enumerate(ids[start:start + CAMPAIGNS_PER_STATEMENT]):
            sql, values = _page_ids(db.dialect, campaign_id, f, after_id, size + 1)
            parts.append(f"SELECT id FROM ({sql}) AS c{i}")
            args += values
        rows = await db.fetch(
            f"SELECT {COLUMNS} FROM ({' UNION ALL '.join(parts)}) AS page"
            f" JOIN drumbeat_delivery d ON d.id = page.id\n{LABEL_JOINS}\nORDER BY d.id", *args)
        for row in rows:
            found[row["campaign"]].append(row)
    return found


async def of_recipients(db: Database, recipient_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each campaign recipient's deliveries, oldest first."""
    ids = list(dict.fromkeys(recipient_ids))
    found: dict[int, list[dict]] = {i: [] for i in ids}
    for start in range(0, len(ids), BATCH):
        part = ids[start:start + BATCH]
        for row in await db.fetch(
                f"{SELECT}\nWHERE d.recipient IN ({_marks(part)})"
                " ORDER BY d.created_at, d.id", *part):
            found[row["recipient"]].append(row)
    return found


async def of_contact(db: Database, campaign_id: int, contact_id: int) -> list[dict]:
    """The deliveries of the campaign's recipient that is this contact, oldest first."""
    return await db.fetch(
        f"{SELECT}\nWHERE d.recipient IN (SELECT r.id FROM drumbeat_campaign_recipient r"
        " WHERE r.campaign = {} AND r.contact = {}) ORDER BY d.created_at, d.id",
        campaign_id, contact_id)


async def event_ids(db: Database, delivery_ids: Sequence[int]) -> list[dict]:
    """``{id, delivery}`` of the deliveries' events, in time order within each batch."""
    ids = list(dict.fromkeys(delivery_ids))
    found: list[dict] = []
    for start in range(0, len(ids), BATCH):
        part = ids[start:start + BATCH]
        found += await db.fetch(
            f"SELECT id, delivery FROM drumbeat_delivery_event WHERE delivery IN ({_marks(part)})"
            " ORDER BY created_at, id", *part)
    return found


def moment(value) -> datetime | None:
    """A stored time (a datetime, an ISO string, or engine epoch seconds) in UTC."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def place(entries: Sequence[dict], rows: Sequence[dict], *, entries_only: bool = False
          ) -> list[tuple[dict, list[dict]]]:
    """A journey with its deliveries: each ``(entry, rows)`` in time order.

    ``entries`` are an enrollment's state entries (``state_key``, ``entered_at``,
    ``step_no``…, oldest first; none when nothing enrolled the recipient). A delivery
    belongs to the entry of its state whose number is its ``entry_no``; one without such an
    entry (a resend: a negative entry) to the latest entry of its state entered by the time
    it was queued. The rest (an ad-hoc send, a quick campaign's deliveries) make one entry
    per state, entered when its first delivery was queued: ``via`` ``LAUNCH``, or
    ``SEND_NOW`` for an ad-hoc step (``campaignSendNow``) — unless ``entries_only``."""
    placed: list[list[dict]] = [[] for _ in entries]
    index = {(e["state_key"], e["step_no"]): i for i, e in enumerate(entries)}
    rest: dict[int, list[dict]] = {}
    for row in rows:
        key = row["state_key"] or ""
        i = index.get((key, row["entry_no"]))
        if i is None:
            queued = moment(row["created_at"])
            earlier = [j for j, e in enumerate(entries)
                       if e["state_key"] == key and moment(e["entered_at"]) <= queued]
            i = earlier[-1] if earlier else None
        if i is None:
            rest.setdefault(row["state_id"], []).append(row)
        else:
            placed[i].append(row)
    journey = list(zip(entries, placed))
    if entries_only:
        return journey
    for own in sorted(rest.values(), key=lambda r: (moment(r[0]["created_at"]), r[0]["id"])):
        entered = min(moment(r["created_at"]) for r in own)
        final = all(r["state"] in FINAL for r in own)
        left = max(moment(r["finished_at"] or r["created_at"]) for r in own) if final else None
        entry = {"state_key": own[0]["state_key"] or "", "entered_at": entered, "left_at": left,
                 "via": "SEND_NOW" if own[0]["adhoc"] else "LAUNCH", "member": None}
        at = next((j for j, (e, _) in enumerate(journey) if moment(e["entered_at"]) > entered),
                  len(journey))
        journey.insert(at, (entry, own))
    return journey


def _marks(values: Sequence) -> str:
    return ", ".join("{}" for _ in values)
