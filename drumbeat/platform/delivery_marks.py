"""What came of a delivery, as bits of ``drumbeat_delivery.marks``.

The event bits are set by database triggers when an event is stored (migration
``…_0200_campaign_truth``): a bounce or an unsubscribe by anyone, an open, a click or a
reply only by a person (not a suspected bot). ``REACTED`` goes with ``reaction_seconds``:
the first such open, click or reply at or after sending. ``CONVERTED`` is set on the done
deliveries of a recipient that converted (triggers on CONVERTED events and LEAD/SALE
outcomes; :func:`mark_reached` for deliveries done later).

The ``FIRST_IN_*`` bits make "distinct recipients" countable from the tally: a done
delivery carries one when it is its recipient's first delivery marked done in its step, of
its action type, or in the campaign. :func:`mark_reached` sets them as deliveries are marked
done, holding their recipients' locks (``ledger_events.lock_recipients``), so concurrent
workers never give one recipient the same bit twice.
"""

from __future__ import annotations

from typing import Sequence

BOUNCED = 1
OPENED = 2
CLICKED = 4
REPLIED = 8
UNSUBSCRIBED = 16
FIRST_IN_STEP = 32
FIRST_IN_TYPE = 64
FIRST_IN_CAMPAIGN = 128
CONVERTED = 256
REACTED = 512

async def reach_bits(db, ids: Sequence[int]) -> dict[int, int]:
    """The ``FIRST_IN_*`` and ``CONVERTED`` bits each of ``ids`` gets when marked done now
    (holding their recipients' locks; the lowest id first within ``ids``).

    Reads what the recipients' deliveries already carry through the recipient index and
    decides in Python: every statement reaches rows by id or recipient, never by state, so
    its cost is the chunk's, not the ledger's."""
    if not ids:
        return {}
    ids = sorted(ids)
    rows = await db.fetch(
        f"SELECT d.id, d.recipient, d.step, a.action_type FROM drumbeat_delivery d"
        f" JOIN drumbeat_workflow_action a ON a.id = d.step"
        f" WHERE d.id IN ({', '.join('{}' for _ in ids)})", *ids)
    recipients = sorted({r["recipient"] for r in rows})
    people = ", ".join("{}" for _ in recipients)
    taken: set[tuple] = set()  # (bit, recipient, scope) already given
    for r in await db.fetch(
            f"SELECT d.recipient, d.step, a.action_type, d.marks FROM drumbeat_delivery d"
            f" JOIN drumbeat_workflow_action a ON a.id = d.step WHERE d.recipient IN ({people})"
            f" AND (d.marks & {FIRST_IN_STEP | FIRST_IN_TYPE | FIRST_IN_CAMPAIGN}) <> 0",
            *recipients):
        for bit, scope in _scopes(r):
            if r["marks"] & bit:
                taken.add((bit, r["recipient"], scope))
    converted = {r["id"] for r in await db.fetch(
        f"SELECT id FROM drumbeat_campaign_recipient WHERE id IN ({people})"
        f" AND converted_at IS NOT NULL", *recipients)}
    result = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        bits = CONVERTED if r["recipient"] in converted else 0
        for bit, scope in _scopes(r):
            if (bit, r["recipient"], scope) not in taken:
                taken.add((bit, r["recipient"], scope))
                bits |= bit
        result[r["id"]] = bits
    return result


async def mark_reached(db, ids: Sequence[int]) -> None:
    """Set the :func:`reach_bits` of deliveries just marked done (one UPDATE per distinct
    set of bits). ``ledger.record`` sets them in the statement that marks the rows done
    and calls this only when some of its rows were not marked."""
    by_bits: dict[int, list[int]] = {}
    for delivery_id, bits in (await reach_bits(db, ids)).items():
        if bits:
            by_bits.setdefault(bits, []).append(delivery_id)
    for bits, chosen in by_bits.items():
        await db.execute(
            f"UPDATE drumbeat_delivery SET marks = marks | {bits}"
            f" WHERE id IN ({', '.join('{}' for _ in chosen)})", *chosen)


def _scopes(row: dict) -> tuple[tuple[int, object], ...]:
    return ((FIRST_IN_STEP, row["step"]), (FIRST_IN_TYPE, row["action_type"]),
            (FIRST_IN_CAMPAIGN, None))
