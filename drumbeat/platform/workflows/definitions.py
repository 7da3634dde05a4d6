"""A workflow version as the engine runs it: the definition (by state key), each state's
action rows (their ids are the ledger's steps), and compiled goal / condition filters.

One :class:`Definitions` lives for one scheduler tick (or one manual move), so a batch of
enrollments on the same version costs one load."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from drumbeat.platform.database import Database


@dataclass
class Version:
    campaign_id: int
    number: int
    states: dict[str, dict]  # key → definition state
    goals: list[dict]
    steps: dict[str, list[dict]] = field(default_factory=dict)  # key → [{id, action_type}]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


async def current_version(db: Database, campaign_id: int) -> int | None:
    return await db.fetchval(
        "SELECT max(number) FROM drumbeat_workflow_version WHERE campaign = {}", campaign_id)


async def load_version(db: Database, campaign_id: int, number: int) -> Version | None:
    raw = await db.fetchval("SELECT definition FROM drumbeat_workflow_version"
                            " WHERE campaign = {} AND number = {}", campaign_id, number)
    if raw is None:
        return None
    definition = _json(raw)
    version = Version(campaign_id, number, {s["key"]: s for s in definition.get("states", [])},
                      list(definition.get("goals") or []))
    for row in await db.fetch(
            "SELECT s.state_key, a.id, a.action_type FROM drumbeat_workflow_state s"
            " JOIN drumbeat_workflow_action a ON a.state = s.id"
            " WHERE s.campaign = {} AND s.version = {} AND a.adhoc = {}"
            " ORDER BY a.position, a.id", campaign_id, number, False):
        version.steps.setdefault(row["state_key"], []).append(
            {"id": row["id"], "action_type": row["action_type"]})
    return version


class Definitions:
    """Versions loaded on demand and kept for the caller's lifetime."""

    def __init__(self, db: Database):
        self.db = db
        self._versions: dict[tuple[int, int], Version | None] = {}
        self.campaigns: dict[int, dict] = {}

    async def version(self, campaign_id: int, number: int) -> Version | None:
        key = (campaign_id, number)
        if key not in self._versions:
            self._versions[key] = await load_version(self.db, campaign_id, number)
        return self._versions[key]

    async def campaign(self, campaign_id: int) -> dict:
        """The campaign row (what resolving targets needs)."""
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = await self.db.fetchrow(
                "SELECT * FROM drumbeat_campaign WHERE id = {}", campaign_id)
        return self.campaigns[campaign_id]
