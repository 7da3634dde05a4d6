"""Products, purchases and product interest in the API: ``Product`` and ``Purchase`` nodes,
the ``products`` and ``purchases`` connections, ``productCreate`` / ``productUpdate`` /
``productDelete``, ``purchaseRecord`` / ``purchaseDelete`` and ``contactInterestSet``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.platform import money
from drumbeat.platform import products as service
from drumbeat.platform.tables import Company as CompanyTable
from drumbeat.platform.tables import Contact as ContactTable
from drumbeat.platform.tables import Product as ProductTable
from drumbeat.platform.tables import Purchase as PurchaseTable
from drumbeat.schema.companies import Company
from drumbeat.schema.context import Info
from drumbeat.schema.contacts import Contact, ContactPayload, given
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import keyset_connection


def _by_id(table):
    async def load(ids):
        rows = {r["id"]: r for r in await table.select().where(table.id.is_in(list(ids)))}
        return [rows.get(i) for i in ids]
    return load


@strawberry.type
class Product(relay.Node):
    id: relay.NodeID[int]
    name: str
    category: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "Product":
        return cls(id=row["id"], name=row["name"], category=row["category"],
                   created_at=row["created_at"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await _by_id(ProductTable)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="A purchase by a contact or by a company.")
class Purchase(relay.Node):
    id: relay.NodeID[int]
    amount: Decimal
    currency: str
    purchased_on: date
    row: strawberry.Private[dict]

    @classmethod
    def from_row(cls, row: dict) -> "Purchase":
        return cls(id=row["id"], amount=money.from_cents(row["amount_cents"]),
                   currency=row["currency"], purchased_on=row["purchased_on"], row=row)

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return Product.from_row(await info.context.loader("product", _by_id(ProductTable))
                                .load(self.row["product"]))

    @strawberry.field
    async def contact(self, info: Info) -> Contact | None:
        if self.row["contact"] is None:
            return None
        row = await info.context.loader("purchase_contact", _by_id(ContactTable)).load(self.row["contact"])
        return Contact.from_row(row) if row else None

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        if self.row["company"] is None:
            return None
        row = await info.context.loader("company", _by_id(CompanyTable)).load(self.row["company"])
        return Company.from_row(row) if row else None

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await _by_id(PurchaseTable)([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.input
class ProductInput:
    name: str
    category: str | None = None


@strawberry.input(description="Only the fields given change.")
class ProductUpdateInput:
    name: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET


@strawberry.input(description="Give either contactId or companyId.")
class PurchaseInput:
    product_id: relay.GlobalID
    amount: Decimal
    purchased_on: date
    currency: str = "EUR"
    contact_id: relay.GlobalID | None = None
    company_id: relay.GlobalID | None = None


@strawberry.type
class ProductPayload:
    product: Product | None
    errors: list[UserError]


@strawberry.type
class PurchasePayload:
    purchase: Purchase | None
    errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class ProductQueries:
    @strawberry.field(description="Products, newest first.")
    async def products(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None,
                       search: str | None = None, category: str | None = None
                       ) -> relay.Connection[Product]:
        info.context.require_member()
        return await keyset_connection(
            ProductTable, Product.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
            where=service.product_filters(search=search, category=category))

    @strawberry.field(description="Purchases, newest first: of a contact, a company and/or a product.")
    async def purchases(self, info: Info, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None,
                        contact_id: relay.GlobalID | None = None,
                        company_id: relay.GlobalID | None = None,
                        product_id: relay.GlobalID | None = None) -> relay.Connection[Purchase]:
        info.context.require_member()
        where = service.purchase_filters(
            contact_id=node_id(contact_id, "Contact", "contactId") if contact_id else None,
            company_id=node_id(company_id, "Company", "companyId") if company_id else None,
            product_id=node_id(product_id, "Product", "productId") if product_id else None)
        return await keyset_connection(
            PurchaseTable, Purchase.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size, where=where)


@strawberry.type
class ProductMutations:
    @strawberry.mutation(description="Create a product (names are unique case-insensitively).")
    async def product_create(self, info: Info, input: ProductInput) -> ProductPayload:
        async def work():
            row = await service.create_product(info.context.platform, info.context.member,
                                               given(input, "input", creating=True))
            return {"product": Product.from_row(row)}

        return await payload(ProductPayload, work, product=None)

    @strawberry.mutation
    async def product_update(self, info: Info, id: relay.GlobalID,
                             input: ProductUpdateInput) -> ProductPayload:
        async def work():
            row = await service.update_product(info.context.platform, info.context.member,
                                               node_id(id, "Product", "id"), given(input, "input"))
            return {"product": Product.from_row(row)}

        return await payload(ProductPayload, work, product=None)

    @strawberry.mutation(description="Delete a product no purchase refers to (admins only).")
    async def product_delete(self, info: Info, id: relay.GlobalID) -> DeletePayload:
        async def work():
            await service.delete_product(info.context.platform, info.context.member,
                                         node_id(id, "Product", "id"))
            return {"deleted_id": id}

        return await payload(DeletePayload, work, deleted_id=None)

    @strawberry.mutation(description="Record a purchase of a contact or a company.")
    async def purchase_record(self, info: Info, input: PurchaseInput) -> PurchasePayload:
        async def work():
            values = given(input, "input", creating=True)
            row = await service.record_purchase(
                info.context.platform, info.context.member, contact_id=values.get("contact_id"),
                company_id=values.get("company_id"), product_id=values["product_id"],
                amount=input.amount, currency=input.currency, purchased_on=input.purchased_on)
            return {"purchase": Purchase.from_row(row)}

        return await payload(PurchasePayload, work, purchase=None)

    @strawberry.mutation(description="Delete a purchase (admins only).")
    async def purchase_delete(self, info: Info, id: relay.GlobalID) -> DeletePayload:
        async def work():
            await service.delete_purchase(info.context.platform, info.context.member,
                                          node_id(id, "Purchase", "id"))
            return {"deleted_id": id}

        return await payload(DeletePayload, work, deleted_id=None)

    @strawberry.mutation(description="Mark (or, with interested: false, unmark) a contact's "
                                      "interest in a product.")
    async def contact_interest_set(self, info: Info, contact_id: relay.GlobalID,
                                   product_id: relay.GlobalID,
                                   interested: bool = True) -> ContactPayload:
        async def work():
            contact = node_id(contact_id, "Contact", "contactId")
            await service.set_interest(info.context.platform, info.context.member, contact,
                                       node_id(product_id, "Product", "productId"), interested)
            row = await ContactTable.select().where(ContactTable.id == contact).first()
            return {"contact": Contact.from_row(row)}

        return await payload(ContactPayload, work, contact=None)
