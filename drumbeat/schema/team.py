"""Team members in the API: the ``TeamMember`` node and ``me``."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.platform.tables import Role as RoleEnum
from drumbeat.platform.tables import TeamMember as TeamMemberTable
from drumbeat.schema.context import Info

Role = strawberry.enum(RoleEnum, name="Role")


@strawberry.type
class TeamMember(relay.Node):
    id: relay.NodeID[int]
    email: str
    name: str
    role: Role
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "TeamMember":
        return cls(id=row["id"], email=row["email"], name=row["name"], role=RoleEnum(row["role"]),
                   created_at=row["created_at"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await info.context.loaders.member.load_many([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type
class TeamQueries:
    @strawberry.field(description="The signed-in team member.")
    async def me(self, info: Info) -> TeamMember:
        member = info.context.require_member()
        row = await TeamMemberTable.select().where(TeamMemberTable.id == member.id).first()
        return TeamMember.from_row(row)
