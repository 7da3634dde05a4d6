"""The audit log in the API: ``Campaign.auditLog``, newest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform.tables import AuditEntry as AuditEntryTable
from drumbeat.schema.context import Info
from drumbeat.schema.team import TeamMember


@strawberry.type
class AuditChange:
    field: str
    old: JSON | None
    new: JSON | None


@strawberry.type
class AuditEntry(relay.Node):
    id: relay.NodeID[int]
    action: str = strawberry.field(
        description="What happened, e.g. campaign.update, campaign.transition, cost.add.")
    created_at: datetime
    changes: list[AuditChange] = strawberry.field(description="Each changed field, old → new.")
    member_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: dict) -> "AuditEntry":
        changes = row["changes"]
        if isinstance(changes, (str, bytes)):
            changes = json.loads(changes)
        return cls(id=row["id"], action=row["action"], created_at=row["created_at"],
                   changes=[AuditChange(field=c["field"], old=c.get("old"), new=c.get("new"))
                            for c in changes or []],
                   member_id=row["member"])

    @strawberry.field(description="Who made the change (null: the platform itself).")
    async def member(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.member_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await AuditEntryTable.select().where(
            AuditEntryTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]
