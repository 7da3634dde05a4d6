"""Products, purchase history (a contact's or a company's purchases) and product interest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from drumbeat.platform import money
from drumbeat.platform import record_fields as f
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_audience_admin, require_audience_editor
from drumbeat.platform.records import check_reference, get_row, text_search
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Company, Contact, Product, ProductInterest, Purchase
from drumbeat.platform.team import Member, now

FIELDS: dict[str, f.Field] = {field.name: field for field in (
    f.Field("name", f.text(200, header=True), required=True),
    f.Field("category", f.text(100, header=True)),
)}


async def _check_product(problems: Problems, values: Mapping[str, Any], product_id: int | None,
                         creating: bool = False) -> dict:
    checked = f.clean_input(problems, FIELDS, values, "input", creating=creating)
    if checked.get("name"):
        rows = await Product.raw("SELECT id FROM drumbeat_product WHERE lower(name) = lower({})",
                                 checked["name"])
        if any(r["id"] != product_id for r in rows):
            problems.add(f"A product named {checked['name']!r} exists.", ErrorCode.DUPLICATE,
                         "input", "name")
    return checked


async def create_product(platform: Platform, member: Member | None, values: Mapping[str, Any]) -> dict:
    require_audience_editor(member)
    problems = Problems()
    checked = await _check_product(problems, values, None, creating=True)
    problems.raise_if_any()
    rows = await Product.insert(Product(**checked, created_at=now())).returning(*Product.all_columns())
    return rows[0]


async def update_product(platform: Platform, member: Member | None, product_id: int,
                         changes: Mapping[str, Any]) -> dict:
    require_audience_editor(member)
    await get_row(Product, product_id)
    problems = Problems()
    checked = await _check_product(problems, changes, product_id)
    problems.raise_if_any()
    async with platform.db.transaction():
        await Product.update(checked).where(Product.id == product_id)
        return await get_row(Product, product_id)


async def delete_product(platform: Platform, member: Member | None, product_id: int) -> None:
    """Admins only, and only while no purchase refers to the product."""
    require_audience_admin(member)
    async with platform.db.transaction():
        await get_row(Product, product_id)
        if await Purchase.exists().where(Purchase.product == product_id):
            raise DomainError.one("Purchases refer to this product.", ErrorCode.INVALID_STATE, ["id"])
        await Product.delete().where(Product.id == product_id)


def product_filters(search: str | None = None, category: str | None = None) -> list[Any]:
    where = text_search((Product.name, Product.category), search)
    if category:
        where.append(Product.category.ilike(category.strip()))
    return where


async def record_purchase(platform: Platform, member: Member | None, *, contact_id: int | None,
                          company_id: int | None, product_id: int, amount: Decimal,
                          currency: str, purchased_on: date) -> dict:
    """A purchase by a contact or by a company (exactly one of them)."""
    require_audience_editor(member)
    problems = Problems()
    if (contact_id is None) == (company_id is None):
        problems.add("Give either a contact or a company.", ErrorCode.REQUIRED, "input", "contactId")
    await check_reference(problems, Contact, contact_id, "input", "contactId")
    await check_reference(problems, Company, company_id, "input", "companyId")
    await check_reference(problems, Product, product_id, "input", "productId")
    cents = money.check_amount(problems, amount, "input", "amount")
    currency = money.check_currency(problems, currency, "input", "currency")
    problems.raise_if_any()
    rows = await Purchase.insert(Purchase(
        contact=contact_id, company=company_id, product=product_id, amount_cents=cents,
        currency=currency, purchased_on=purchased_on,
    )).returning(*Purchase.all_columns())
    return rows[0]


async def delete_purchase(platform: Platform, member: Member | None, purchase_id: int) -> None:
    require_audience_admin(member)
    async with platform.db.transaction():
        await get_row(Purchase, purchase_id)
        await Purchase.delete().where(Purchase.id == purchase_id)


def purchase_filters(contact_id: int | None = None, company_id: int | None = None,
                     product_id: int | None = None) -> list[Any]:
    where = []
    if contact_id is not None:
        where.append(Purchase.contact == contact_id)
    if company_id is not None:
        where.append(Purchase.company == company_id)
    if product_id is not None:
        where.append(Purchase.product == product_id)
    return where


async def set_interest(platform: Platform, member: Member | None, contact_id: int,
                       product_id: int, interested: bool) -> None:
    """Mark (or unmark) a contact's interest in a product; idempotent."""
    require_audience_editor(member)
    problems = Problems()
    await check_reference(problems, Contact, contact_id, "contactId")
    await check_reference(problems, Product, product_id, "productId")
    problems.raise_if_any()
    async with platform.db.transaction():
        await ProductInterest.delete().where(
            (ProductInterest.contact == contact_id) & (ProductInterest.product == product_id))
        if interested:
            await ProductInterest.insert(ProductInterest(
                contact=contact_id, product=product_id, created_at=now()))


async def interests_of(contact_ids: Sequence[int]) -> list[list[dict]]:
    """Each contact's products of interest, by name (a DataLoader batch function)."""
    interests = await ProductInterest.select(ProductInterest.contact, ProductInterest.product).where(
        ProductInterest.contact.is_in(list(contact_ids)))
    products = {r["id"]: r for r in await Product.select().where(
        Product.id.is_in(sorted({r["product"] for r in interests}) or [-1]))}
    found: dict[int, list[dict]] = {}
    for row in sorted(interests, key=lambda r: products[r["product"]]["name"].lower()):
        found.setdefault(row["contact"], []).append(products[row["product"]])
    return [found.get(i, []) for i in contact_ids]
