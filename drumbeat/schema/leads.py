"""Leads in the API: the ``Lead`` node, the filtered ``leads`` connection, ``leadCreate`` /
``leadUpdate`` / ``leadDelete`` / ``leadConvert``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import leads as service
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.platform.tables import Lead as LeadTable
from drumbeat.platform.tables import LeadStatus as LeadStatusValue
from drumbeat.schema.context import Info
from drumbeat.schema.contacts import Contact, given
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember

LeadStatus = strawberry.enum(LeadStatusValue, name="LeadStatus")


async def _contacts(ids):
    rows = {r["id"]: r for r in await ContactTable.select().where(ContactTable.id.is_in(list(ids)))}
    return [rows.get(i) for i in ids]


@strawberry.type
class Lead(relay.Node):
    id: relay.NodeID[int]
    first_name: str
    last_name: str
    email: str | None
    phone: str
    company_name: str
    source: str
    status: LeadStatus
    created_at: datetime
    updated_at: datetime
    owner_id: strawberry.Private[int | None]
    converted_contact_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: dict) -> "Lead":
        return cls(id=row["id"], first_name=row["first_name"], last_name=row["last_name"],
                   email=row["email"], phone=row["phone"], company_name=row["company_name"],
                   source=row["source"], status=LeadStatusValue(row["status"]),
                   created_at=row["created_at"], updated_at=row["updated_at"],
                   owner_id=row["owner"], converted_contact_id=row["converted_contact"])

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.owner_id)

    @strawberry.field(description="The contact this lead became (CONVERTED leads).")
    async def converted_contact(self, info: Info) -> Contact | None:
        if self.converted_contact_id is None:
            return None
        row = await info.context.loader("lead_contact", _contacts).load(self.converted_contact_id)
        return Contact.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await LeadTable.select().where(LeadTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input
class LeadInput:
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company_name: str | None = None
    source: str | None = None
    status: LeadStatus | None = strawberry.field(default=None, description="Default: NEW.")
    owner_id: relay.GlobalID | None = strawberry.field(default=None, description="Default: you.")


@strawberry.input(description="Only the fields given change; null clears a field.")
class LeadUpdateInput:
    email: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    company_name: str | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    status: LeadStatus | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.type
class LeadPayload:
    lead: Lead | None
    errors: list[UserError]


@strawberry.type
class LeadConvertPayload:
    lead: Lead | None
    contact: Contact | None
    errors: list[UserError]


@strawberry.type
class LeadDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class LeadQueries:
    @strawberry.field(description="Leads, newest first; every filter given must hold.")
    async def leads(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        search: Annotated[str | None, strawberry.argument(
            description="Words each found in the name, email or company name.")] = None,
        status: LeadStatus | None = None, source: str | None = None,
    ) -> relay.Connection[Lead]:
        info.context.require_member()
        return await keyset_connection(
            LeadTable, Lead.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
            where=service.filters(search=search, status=status.value if status else None,
                                  source=source),
        )


@strawberry.type
class LeadMutations:
    @strawberry.mutation
    async def lead_create(self, info: Info, input: LeadInput) -> LeadPayload:
        async def work():
            row = await service.create_lead(info.context.platform, info.context.member,
                                            given(input, "input", creating=True))
            return {"lead": Lead.from_row(row)}

        return await payload(LeadPayload, work, lead=None)

    @strawberry.mutation(description="Change a lead's fields (convert it with leadConvert).")
    async def lead_update(self, info: Info, id: relay.GlobalID,
                          input: LeadUpdateInput) -> LeadPayload:
        async def work():
            row = await service.update_lead(info.context.platform, info.context.member,
                                            node_id(id, "Lead", "id"), given(input, "input"))
            return {"lead": Lead.from_row(row)}

        return await payload(LeadPayload, work, lead=None)

    @strawberry.mutation(description="Turn a lead into a contact: the contact with its email "
                                      "(filled in where empty) or a new one; the lead becomes CONVERTED.")
    async def lead_convert(self, info: Info, id: relay.GlobalID) -> LeadConvertPayload:
        async def work():
            lead, contact = await service.convert_lead(info.context.platform, info.context.member,
                                                       node_id(id, "Lead", "id"))
            return {"lead": Lead.from_row(lead), "contact": Contact.from_row(contact)}

        return await payload(LeadConvertPayload, work, lead=None, contact=None)

    @strawberry.mutation(description="Delete a lead (admins only).")
    async def lead_delete(self, info: Info, id: relay.GlobalID) -> LeadDeletePayload:
        async def work():
            await service.delete_lead(info.context.platform, info.context.member,
                                      node_id(id, "Lead", "id"))
            return {"deleted_id": id}

        return await payload(LeadDeletePayload, work, deleted_id=None)
