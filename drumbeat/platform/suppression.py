"""The suppression list: addresses never to email again (hard bounces, complaints, manual).

A launch skips suppressed targets (``SUPPRESSED``); sending actions check the list again at
send time through ``ctx.suppression`` (:class:`Suppressions`), because an address can be
suppressed while a campaign runs.
"""

from __future__ import annotations

from typing import Iterable

from drumbeat.platform.database import Database
from drumbeat.platform.ledger import utcnow
from drumbeat.platform.tables.deliveries import SuppressionReason


class Suppressions:
    """The :class:`drumbeat.SuppressionList` an action gets as ``ctx.suppression``."""

    def __init__(self, db: Database):
        self.db = db

    async def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        wanted = sorted({a.strip().lower() for a in addresses if a})
        if not wanted:
            return {}
        rows = await self.db.fetch(
            "SELECT address, reason FROM drumbeat_suppression WHERE address IN ("
            + ", ".join("{}" for _ in wanted) + ")", *wanted)
        return {r["address"]: r["reason"] for r in rows}

    async def add(self, address: str, reason: str, note: str = "") -> None:
        await suppress(self.db, address, SuppressionReason(reason), note)


async def suppress(db: Database, address: str, reason: SuppressionReason, note: str = "") -> None:
    """Add ``address`` (once: an existing entry keeps its reason); for a hard bounce also
    mark the contacts with that email ``bounced``, in the same transaction."""
    address = address.strip().lower()
    async with db.transaction():
        await db.execute(
            "INSERT INTO drumbeat_suppression (address, reason, note, created_at)"
            " VALUES ({}, {}, {}, {}) ON CONFLICT (address) DO NOTHING",
            address, reason.value, note[:2000], utcnow())
        if reason is SuppressionReason.HARD_BOUNCE:
            await db.execute(
                "UPDATE drumbeat_contact SET bounced = {} WHERE email = {} AND NOT bounced",
                True, address)
