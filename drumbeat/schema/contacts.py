"""Contacts in the API: the ``Contact`` node, the filtered ``contacts`` connection, and
``contactsCreate`` / ``contactUpdate`` / ``contactDelete`` / ``contactTagsSet`` /
``contactConsentSet``."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Iterable

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import contacts as service
from drumbeat.platform.products import interests_of
from drumbeat.platform.tables import Company as CompanyTable
from drumbeat.platform.tables import Consent as ConsentValue
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember

if TYPE_CHECKING:
    from drumbeat.schema.companies import Company
    from drumbeat.schema.products import Product

Consent = strawberry.enum(ConsentValue, name="Consent",
                          description="Marketing consent; DENIED is never addressed.")
CompanyRef = Annotated["Company", strawberry.lazy("drumbeat.schema.companies")]
ProductRef = Annotated["Product", strawberry.lazy("drumbeat.schema.products")]


async def _companies(ids):
    rows = {r["id"]: r for r in await CompanyTable.select().where(CompanyTable.id.is_in(list(ids)))}
    return [rows.get(i) for i in ids]


def _json(value) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {})


@strawberry.type
class Contact(relay.Node):
    id: relay.NodeID[int]
    email: str | None
    first_name: str
    last_name: str
    phone: str
    job_title: str
    language: str = strawberry.field(description="BCP 47, e.g. hr or es-ES.")
    timezone: str = strawberry.field(description="IANA, e.g. Europe/Zagreb.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    city: str
    birth_date: date | None
    gender: str
    attributes: JSON = strawberry.field(description="Custom attributes: names to strings, "
                                                    "numbers or booleans.")
    consent: Consent
    consent_source: str
    consent_at: datetime | None
    unsubscribed: bool
    bounced: bool
    created_at: datetime
    updated_at: datetime | None
    company_id: strawberry.Private[int | None]
    owner_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: dict) -> "Contact":
        return cls(
            id=row["id"], email=row["email"], first_name=row["first_name"],
            last_name=row["last_name"], phone=row.get("phone", ""), job_title=row.get("job_title", ""),
            language=row.get("language", ""), timezone=row.get("timezone", ""),
            country=row.get("country", ""), city=row.get("city", ""),
            birth_date=row.get("birth_date"), gender=row.get("gender", ""),
            attributes=_json(row.get("attributes")),
            consent=ConsentValue(row.get("consent") or "UNKNOWN"),
            consent_source=row.get("consent_source", ""), consent_at=row.get("consent_at"),
            unsubscribed=bool(row["unsubscribed"]), bounced=bool(row.get("bounced")),
            created_at=row["created_at"], updated_at=row.get("updated_at"),
            company_id=row.get("company"), owner_id=row.get("owner"),
        )

    @strawberry.field
    async def company(self, info: Info) -> CompanyRef | None:
        from drumbeat.schema.companies import Company

        if self.company_id is None:
            return None
        row = await info.context.loader("company", _companies).load(self.company_id)
        return Company.from_row(row) if row else None

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember | None:
        return await TeamMember.load(info, self.owner_id)

    @strawberry.field(description="Sorted tags.")
    async def tags(self, info: Info) -> list[str]:
        return await info.context.loader("contact_tags", service.tags_of).load(self.id)

    @strawberry.field(description="Products the contact is interested in, by name.")
    async def interests(self, info: Info) -> list[ProductRef]:
        from drumbeat.schema.products import Product

        rows = await info.context.loader("contact_interests", interests_of).load(self.id)
        return [Product.from_row(r) for r in rows]

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
    phone: str | None = None
    job_title: str | None = None
    language: str | None = None
    timezone: str | None = None
    country: str | None = None
    city: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    attributes: JSON | None = None
    consent: Consent | None = None
    consent_source: str | None = None
    consent_at: datetime | None = strawberry.field(
        default=None, description="Default: now, when consent is given.")
    company_id: relay.GlobalID | None = None
    owner_id: relay.GlobalID | None = strawberry.field(default=None, description="Default: you.")
    tags: list[str] | None = None


@strawberry.input(description="Only the fields given change; null clears a field.")
class ContactUpdateInput:
    email: str | None = strawberry.UNSET
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    language: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    gender: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    unsubscribed: bool | None = strawberry.UNSET
    company_id: relay.GlobalID | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET


def given(data, *path: str | int, creating: bool = False) -> dict:
    """The snake_case fields of an input that were given (on create: not null), with the
    ``*_id`` global ids decoded."""
    values = {}
    for name, value in vars(data).items():
        if value is strawberry.UNSET or (value is None and (creating or name == "tags")):
            continue
        if name in ID_TYPES and value is not None:  # a global id (not e.g. vat_id)
            value = node_id(value, ID_TYPES[name], *path, name.replace("_id", "Id"))
        values[name] = value
    return values


ID_TYPES = {"company_id": "Company", "owner_id": "TeamMember", "contact_id": "Contact",
            "product_id": "Product"}


@strawberry.type
class ContactsCreatePayload:
    contacts: list[Contact] | None
    errors: list[UserError]


@strawberry.type
class ContactPayload:
    contact: Contact | None
    errors: list[UserError]


@strawberry.type
class ContactDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class ContactQueries:
    @strawberry.field(description="Contacts, newest first; every filter given must hold.")
    async def contacts(
        self, info: Info, first: int | None = None, after: str | None = None,
        last: int | None = None, before: str | None = None,
        search: Annotated[str | None, strawberry.argument(
            description="Words each found in the name or email.")] = None,
        company_id: relay.GlobalID | None = None, tag: str | None = None,
        consent: Consent | None = None, country: str | None = None,
    ) -> relay.Connection[Contact]:
        info.context.require_member()
        where = service.filters(
            search=search, tag=tag, country=country, consent=consent.value if consent else None,
            company_id=node_id(company_id, "Company", "companyId") if company_id else None)
        return await keyset_connection(
            ContactTable, Contact.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size, where=where,
        )


@strawberry.type
class ContactMutations:
    @strawberry.mutation(description="Create contacts, all or none (at most 1000 per call).")
    async def contacts_create(self, info: Info, input: list[ContactInput]) -> ContactsCreatePayload:
        async def work():
            items = [given(item, "input", index, creating=True) for index, item in enumerate(input)]
            rows = await service.create_contacts(info.context.platform, info.context.member, items)
            return {"contacts": [Contact.from_row(r) for r in rows]}

        return await payload(ContactsCreatePayload, work, contacts=None)

    @strawberry.mutation(description="Change a contact's fields (tags: replace the set).")
    async def contact_update(self, info: Info, id: relay.GlobalID,
                             input: ContactUpdateInput) -> ContactPayload:
        async def work():
            row = await service.update_contact(
                info.context.platform, info.context.member, node_id(id, "Contact", "id"),
                given(input, "input"))
            return {"contact": Contact.from_row(row)}

        return await payload(ContactPayload, work, contact=None)

    @strawberry.mutation(description="Replace a contact's tags.")
    async def contact_tags_set(self, info: Info, id: relay.GlobalID,
                               tags: list[str]) -> ContactPayload:
        async def work():
            row = await service.set_tags(info.context.platform, info.context.member,
                                         node_id(id, "Contact", "id"), tags)
            return {"contact": Contact.from_row(row)}

        return await payload(ContactPayload, work, contact=None)

    @strawberry.mutation(description="Record a contact's consent, its source and its time "
                                      "(default: now).")
    async def contact_consent_set(self, info: Info, id: relay.GlobalID, consent: Consent,
                                  source: str = "", at: datetime | None = None) -> ContactPayload:
        async def work():
            row = await service.set_consent(info.context.platform, info.context.member,
                                            node_id(id, "Contact", "id"), consent.value, source, at)
            return {"contact": Contact.from_row(row)}

        return await payload(ContactPayload, work, contact=None)

    @strawberry.mutation(description="Delete a contact (admins only).")
    async def contact_delete(self, info: Info, id: relay.GlobalID) -> ContactDeletePayload:
        async def work():
            await service.delete_contact(info.context.platform, info.context.member,
                                         node_id(id, "Contact", "id"))
            return {"deleted_id": id}

        return await payload(ContactDeletePayload, work, deleted_id=None)
