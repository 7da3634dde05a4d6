"""Event frames: one event of the ledger as every reader sees it — live on the campaign's
channel, replayed from the ledger, or listed as recent events.

A frame names the event, the recipient addressed (kind, id, name, address), the step (id,
its state's name and key) and the action type. Every frame is built by :data:`_SELECT` (with
the labels of ``delivery_labels``, as the delivery list shows them) from the stored rows,
live ones right after they are written, so a live frame and the replay of the same event
are identical field for field.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import AsyncIterator, Iterable, Sequence

from drumbeat.platform.delivery_labels import LABEL_COLUMNS, LABEL_JOINS

PAGE = 500

_SELECT = f"""
SELECT e.id, e.campaign, e.type, e.delivery, e.detail, e.created_at, e.retry_at,
  e.suspected_bot, d.address, d.target_kind, d.target_id, d.step, {LABEL_COLUMNS}
FROM drumbeat_delivery_event e
LEFT JOIN drumbeat_delivery d ON d.id = e.delivery
{LABEL_JOINS}
"""


def _iso(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def frame(r: dict) -> dict:
    """The channel message of one event row of :data:`_SELECT` (plain JSON values)."""
    retry = r["retry_at"]
    return {
        "type": "event", "id": r["id"], "event": r["type"], "campaignId": r["campaign"],
        "deliveryId": r["delivery"], "address": r["address"], "detail": r["detail"] or "",
        "suspectedBot": bool(r["suspected_bot"]), "at": _iso(r["created_at"]),
        "retryAt": (datetime.fromtimestamp(float(retry), timezone.utc).isoformat()
                    if retry is not None else None),
        "recipient": None if r["target_kind"] is None else {
            "kind": r["target_kind"], "id": r["target_id"],
            "name": r["recipient_name"] or "", "address": r["address"]},
        "step": None if r["step"] is None else {
            "id": r["step"], "name": r["state_name"] or "", "stateKey": r["state_key"] or "",
            "actionType": r["action_type"] or ""},
        "actionType": r["action_type"],
    }


def _marks(values: Sequence) -> str:
    return ", ".join("{}" for _ in values)


async def frames(db, event_ids: Iterable[int]) -> list[dict]:
    """The frames of ``event_ids``, in id order (readable in the transaction that wrote them)."""
    ids = sorted(set(event_ids))
    found: list[dict] = []
    for start in range(0, len(ids), PAGE):
        part = ids[start:start + PAGE]
        rows = await db.fetch(f"{_SELECT} WHERE e.id IN ({_marks(part)}) ORDER BY e.id", *part)
        found += [frame(r) for r in rows]
    return found


async def replay(db, campaign_id: int, after: int, types: set[str] | None
                 ) -> AsyncIterator[dict]:
    """The campaign's frames with an id above ``after`` (of ``types``), page by page."""
    kinds = sorted(types) if types else None
    only = f" AND e.type IN ({_marks(kinds)})" if kinds else ""
    while True:
        rows = await db.fetch(
            f"{_SELECT} WHERE e.campaign = {{}} AND e.id > {{}}{only} ORDER BY e.id LIMIT {{}}",
            campaign_id, after, *(kinds or ()), PAGE)
        for r in rows:
            yield frame(r)
        if len(rows) < PAGE:
            return
        after = rows[-1]["id"]


async def recent(db, campaign_id: int, last: int, types: set[str] | None) -> list[dict]:
    """The campaign's newest ``last`` frames (of ``types``), oldest first."""
    kinds = sorted(types) if types else None
    only = f" AND e.type IN ({_marks(kinds)})" if kinds else ""
    rows = await db.fetch(
        f"{_SELECT} WHERE e.campaign = {{}}{only} ORDER BY e.id DESC LIMIT {{}}",
        campaign_id, *(kinds or ()), last)
    return [frame(r) for r in reversed(rows)]


async def publish_frames(publish, campaign_id: int, found: Sequence[dict]) -> None:
    """Publish frames on the campaign's channel as ``events`` batches of at most PAGE."""
    for start in range(0, len(found), PAGE):
        await publish(campaign_id, {"type": "events", "events": list(found[start:start + PAGE])})
