"""Contacts in the API: the ``Contact`` node, the ``contacts`` connection, ``contactsCreate``."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.platform.contacts import ContactInput as ContactData
from drumbeat.platform.contacts import create_contacts
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.pagination import keyset_connection


@strawberry.type
class Contact(relay.Node):
    id: relay.NodeID[int]
    email: str | None
    first_name: str
    last_name: str
    unsubscribed: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "Contact":
        return cls(id=row["id"], email=row["email"], first_name=row["first_name"],
                   last_name=row["last_name"], unsubscribed=bool(row["unsubscribed"]),
                   created_at=row["created_at"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids]
        rows = {r["id"]: r for r in await ContactTable.select().where(ContactTable.id.is_in(ids))}
        return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.input
class ContactInput:
    email: str | None = None
    first_name: str = ""
    last_name: str = ""


@strawberry.type
class ContactsCreatePayload:
    contacts: list[Contact] | None
    errors: list[UserError]


@strawberry.type
class ContactQueries:
    @strawberry.field
    async def contacts(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None
                       ) -> relay.Connection[Contact]:
        info.context.require_member()
        return await keyset_connection(
            ContactTable, Contact.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
        )


@strawberry.type
class ContactMutations:
    @strawberry.mutation(description="Create contacts, all or none (at most 1000 per call).")
    async def contacts_create(self, info: Info, input: list[ContactInput]) -> ContactsCreatePayload:
        async def work():
            rows = await create_contacts(
                info.context.platform, info.context.member,
                [ContactData(email=i.email, first_name=i.first_name, last_name=i.last_name)
                 for i in input],
            )
            return {"contacts": [Contact.from_row(r) for r in rows]}

        return await payload(ContactsCreatePayload, work, contacts=None)
