"""The team in the API: ``TeamMember`` and ``ApiToken`` nodes, ``me``, ``teamMembers``, and
the team and token mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import team
from drumbeat.platform.tables import Role as RoleEnum
from drumbeat.platform.tables import TeamMember as TeamMemberTable
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection

Role = strawberry.enum(RoleEnum, name="Role")


@strawberry.type(description="An API token. The token itself is shown once, at creation.")
class ApiToken(relay.Node):
    id: relay.NodeID[int]
    label: str
    prefix: str = strawberry.field(description="The token's first characters, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="When it last authenticated a request (updated at most once a minute).")
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> "ApiToken":
        return cls(id=row["id"], label=row["label"], prefix=row["prefix"],
                   created_at=row["created_at"], last_used_at=row["last_used_at"],
                   revoked_at=row["revoked_at"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        ids = [int(i) for i in node_ids if i.isdigit()]
        rows = await team.visible_tokens(info.context.member, ids)
        return [cls.from_row(rows[int(i)]) if i.isdigit() and int(i) in rows else None
                for i in node_ids]


@strawberry.type
class TeamMember(relay.Node):
    id: relay.NodeID[int]
    email: str
    name: str
    role: Role
    active: bool = strawberry.field(description="An inactive member's tokens are refused.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "TeamMember":
        return cls(id=row["id"], email=row["email"], name=row["name"], role=RoleEnum(row["role"]),
                   active=bool(row["active"]), created_at=row["created_at"])

    @strawberry.field(description="The member's API tokens, newest first, revoked ones included. "
                                  "Only you and admins see them: null for anyone else.")
    async def tokens(self, info: Info) -> list[ApiToken] | None:
        if not team.can_see_tokens(info.context.require_member(), self.id):
            return None
        rows = await info.context.loader("member_tokens", team.tokens_of).load(self.id)
        return [ApiToken.from_row(r) for r in rows]

    @classmethod
    async def load(cls, info: Info, member_id: int | None) -> "TeamMember | None":
        """The member with ``member_id`` through the request's DataLoader (None for none)."""
        if member_id is None:
            return None
        row = await info.context.loaders.member.load(member_id)
        return cls.from_row(row) if row else None

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

    @strawberry.field(description="The team, newest members first; optionally one role only.")
    async def team_members(self, info: Info, first: int | None = None, after: str | None = None,
                           last: int | None = None, before: str | None = None,
                           role: Role | None = None) -> relay.Connection[TeamMember]:
        info.context.require_member()
        return await keyset_connection(
            TeamMemberTable, TeamMember.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size,
            where=[TeamMemberTable.role == RoleEnum(role).value] if role is not None else (),
        )


@strawberry.input
class TeamMemberCreateInput:
    email: str
    name: str
    role: Role = RoleEnum.MARKETER


@strawberry.input(description="Only the fields given change.")
class TeamMemberUpdateInput:
    name: str | None = strawberry.UNSET
    role: Role | None = strawberry.UNSET
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false: the member's tokens stop working at once.")


@strawberry.type
class TeamMemberPayload:
    team_member: TeamMember | None
    errors: list[UserError]


@strawberry.type
class TokenCreatePayload:
    token: str | None = strawberry.field(
        description="The bearer token. Shown only here: only its SHA-256 hash is stored.")
    api_token: ApiToken | None
    errors: list[UserError]


@strawberry.type
class TokenRevokePayload:
    api_token: ApiToken | None
    errors: list[UserError]


@strawberry.type
class TeamMutations:
    @strawberry.mutation(description="Create an API token for yourself.")
    async def token_create(self, info: Info, label: str) -> TokenCreatePayload:
        async def work():
            token, row = await team.create_token(info.context.member, label)
            return {"token": token, "api_token": ApiToken.from_row(row)}
        return await payload(TokenCreatePayload, work, token=None, api_token=None)

    @strawberry.mutation(description="Revoke one of your tokens (any token, as an admin); "
                                     "it stops working at once.")
    async def token_revoke(self, info: Info, id: relay.GlobalID) -> TokenRevokePayload:
        async def work():
            member = info.context.require_member()
            row = await team.revoke_token_by_id(member, node_id(id, "ApiToken", "id"))
            return {"api_token": ApiToken.from_row(row)}
        return await payload(TokenRevokePayload, work, api_token=None)

    @strawberry.mutation(description="Admins only: add a team member.")
    async def team_member_create(self, info: Info, input: TeamMemberCreateInput
                                 ) -> TeamMemberPayload:
        async def work():
            row = await team.add_member(info.context.member, input.email, input.name,
                                        RoleEnum(input.role))
            return {"team_member": TeamMember.from_row(row)}
        return await payload(TeamMemberPayload, work, team_member=None)

    @strawberry.mutation(description="Admins only: rename, change the role of, deactivate or "
                                     "reactivate a member. The last active admin stays one.")
    async def team_member_update(self, info: Info, id: relay.GlobalID,
                                 input: TeamMemberUpdateInput) -> TeamMemberPayload:
        async def work():
            team.require_admin(info.context.member)
            changes = {name: getattr(input, name) for name in ("name", "role", "active")
                       if getattr(input, name) is not strawberry.UNSET}
            row = await team.update_member(info.context.platform, info.context.member,
                                           node_id(id, "TeamMember", "id"), **changes)
            return {"team_member": TeamMember.from_row(row)}
        return await payload(TeamMemberPayload, work, team_member=None)
