"""What came of a delivery, as bits of ``drumbeat_delivery.marks``.

The event bits are set by database triggers when an event is stored (migration
``…_0200_campaign_truth``): a bounce or an unsubscribe by anyone, an open, a click or a
reply only by a person (not a suspected bot). ``REACTED`` goes with ``reaction_seconds``:
the first such open, click or reply at or after sending. ``CONVERTED`` is set on the done
deliveries of a recipient that converted (triggers on CONVERTED events and LEAD/SALE
outcomes; :func:`mark_reached` for deliveries done later).

The ``FIRST_IN_*`` bits make "distinct recipients" countable from the tally: a done
delivery carries one when it is its recipient's first done delivery of its step, of its
action type, or of the campaign. :func:`mark_reached` sets them as deliveries are marked
done, under the campaign's event lock (``ledger_events.event_writes``), so concurrent
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

_ROW = "drumbeat_delivery"
_SAME_TYPE = (f"x.step IN (SELECT t.id FROM drumbeat_workflow_action t WHERE t.action_type ="
              f" (SELECT s.action_type FROM drumbeat_workflow_action s WHERE s.id = {_ROW}.step))")


def _first(bit: int, scope: str) -> str:
    """``bit`` when no done delivery of the recipient in ``scope`` has it yet and this row
    is the lowest id among those that do not (rows marked done in one statement)."""
    return (f"CASE WHEN NOT EXISTS (SELECT 1 FROM drumbeat_delivery x WHERE"
            f" x.recipient = {_ROW}.recipient AND {scope} AND (x.marks & {bit}) <> 0)"
            f" AND {_ROW}.id = (SELECT MIN(x.id) FROM drumbeat_delivery x WHERE"
            f" x.recipient = {_ROW}.recipient AND {scope} AND x.state = 'done'"
            f" AND (x.marks & {bit}) = 0) THEN {bit} ELSE 0 END")


_REACHED = (
    f"UPDATE drumbeat_delivery SET marks = marks"
    f" | {_first(FIRST_IN_STEP, f'x.step = {_ROW}.step')}"
    f" | {_first(FIRST_IN_TYPE, _SAME_TYPE)}"
    f" | {_first(FIRST_IN_CAMPAIGN, '1 = 1')}"
    f" | CASE WHEN EXISTS (SELECT 1 FROM drumbeat_campaign_recipient r WHERE"
    f" r.id = {_ROW}.recipient AND r.converted_at IS NOT NULL) THEN {CONVERTED} ELSE 0 END"
    f" WHERE state = 'done' AND id IN ({{ids}})")


async def mark_reached(db, ids: Sequence[int]) -> None:
    """Set the ``FIRST_IN_*`` and ``CONVERTED`` bits of deliveries just marked done (in the
    transaction that marked them, holding the campaign's event lock)."""
    if ids:
        await db.execute(_REACHED.replace("{ids}", ", ".join("{}" for _ in ids)), *ids)
