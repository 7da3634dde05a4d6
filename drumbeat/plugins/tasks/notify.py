"""Announcing tasks to their assignees on the event bus, on the channel ``member:<id>``.

Messages are ``{"type": "tasks", "change": ASSIGNED | UPDATED | UNASSIGNED, "ids": [...]}``
and are published only after the change is committed (a reader finds the tasks).
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterable, Mapping

log = logging.getLogger(__name__)

ASSIGNED, UPDATED, UNASSIGNED = "ASSIGNED", "UPDATED", "UNASSIGNED"

Publish = Callable[[str, dict], Awaitable[None]]


def channel(member_id: int) -> str:
    return f"member:{member_id}"


async def announce(publish: Publish | None, rows: Iterable[Mapping], change: str) -> None:
    """One message per assignee for ``rows`` (each with ``id`` and ``assignee``)."""
    if publish is None:
        return
    by_member: dict[int, list[int]] = {}
    for row in rows:
        if row["assignee"] is not None:
            by_member.setdefault(row["assignee"], []).append(row["id"])
    for member_id, ids in by_member.items():
        try:
            await publish(channel(member_id), {"type": "tasks", "change": change,
                                               "ids": sorted(ids)})
        except Exception:  # advisory: the task itself is committed
            log.exception("announcing tasks to member %s failed", member_id)
