"""Companies in the API: the ``Company`` node, the filtered ``companies`` connection,
``companyCreate`` / ``companyUpdate`` / ``companyDelete``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import companies as service
from drumbeat.platform.tables import Company as CompanyTable
from drumbeat.schema.context import Info
from drumbeat.schema.contacts import given
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember


@strawberry.type
class Company(relay.Node):
    id: relay.NodeID[int]
    name: str
    email: str | None = strawberry.field(
        description="The general address (office, secretariat): the company dispatch target.")
    vat_id: str
    phone: str
    industry: str
    size: int | None = strawberry.field(description="Employees.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    city: str
    created_at: datetime
    updated_at: datetime | None
    owner_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: dict) -> "Company":
        return cls(id=row["id"], name=row["name"], email=row["email"], vat_id=row["vat_id"],
                   phone=row["phone"], industry=row["industry"], size=row["size"],
                   country=row["country"], city=row["city"], created_at=row["created_at"],
                   updated_at=row["updated_at"], owner_id=row["owner"])

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.owner_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await CompanyTable.select().where(CompanyTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input
class CompanyInput:
    name: str
    email: str | None = None
    vat_id: str | None = None
    phone: str | None = None
    industry: str | None = None
    size: int | None = None
    country: str | None = None
    city: str | None = None
    owner_id: relay.GlobalID | None = strawberry.field(default=None, description="Default: you.")


@strawberry.input(description="Only the fields given change; null clears a field.")
class CompanyUpdateInput:
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    vat_id: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    size: int | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.type
class CompanyPayload:
    company: Company | None
    errors: list[UserError]


@strawberry.type
class CompanyDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class CompanyQueries:
    @strawberry.field(description="Companies, newest first; every filter given must hold.")
    async def companies(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        search: Annotated[str | None, strawberry.argument(
            description="Words each found in the name, address or VAT id.")] = None,
        country: str | None = None, industry: str | None = None,
    ) -> relay.Connection[Company]:
        info.context.require_member()
        return await keyset_connection(
            CompanyTable, Company.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
            where=service.filters(search=search, country=country, industry=industry),
        )


@strawberry.type
class CompanyMutations:
    @strawberry.mutation
    async def company_create(self, info: Info, input: CompanyInput) -> CompanyPayload:
        async def work():
            row = await service.create_company(info.context.platform, info.context.member,
                                               given(input, "input", creating=True))
            return {"company": Company.from_row(row)}

        return await payload(CompanyPayload, work, company=None)

    @strawberry.mutation(description="Change a company's fields.")
    async def company_update(self, info: Info, id: relay.GlobalID,
                             input: CompanyUpdateInput) -> CompanyPayload:
        async def work():
            row = await service.update_company(info.context.platform, info.context.member,
                                               node_id(id, "Company", "id"), given(input, "input"))
            return {"company": Company.from_row(row)}

        return await payload(CompanyPayload, work, company=None)

    @strawberry.mutation(description="Delete a company (admins only); its contacts stay.")
    async def company_delete(self, info: Info, id: relay.GlobalID) -> CompanyDeletePayload:
        async def work():
            await service.delete_company(info.context.platform, info.context.member,
                                         node_id(id, "Company", "id"))
            return {"deleted_id": id}

        return await payload(CompanyDeletePayload, work, deleted_id=None)
