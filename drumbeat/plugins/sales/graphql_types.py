"""The sales documents in GraphQL: ``Invoice``, ``Opportunity`` and ``Offer`` nodes (money
as decimal strings with two places, like the core's budget) and their queries. Every
signed-in member reads them."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Iterable

import strawberry
from strawberry import relay

from drumbeat.plugins.sales import tables
from drumbeat.plugins.sales.config import Stage
from drumbeat.plugins.sales.money import from_cents
from drumbeat.plugins.sales.service import as_date, today
from drumbeat.schema_kit import Info, TeamMember, id_of, keyset_connection

OpportunityStage = strawberry.enum(Stage, name="OpportunityStage")


@strawberry.enum
class InvoiceStatus(Enum):
    ISSUED = "ISSUED"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


@strawberry.enum
class OfferStatus(Enum):
    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


@strawberry.enum(description="What happened to a document's email.")
class DocumentEmailStatus(Enum):
    PENDING = "PENDING"  # numbered, the email not yet confirmed (a retry is due)
    SENDING = "SENDING"  # being emailed again (invoiceResendEmail / offerResendEmail)
    SENT = "SENT"
    NOT_SENT = "NOT_SENT"  # the campaign's sendEmails is off, or no address
    SUPPRESSED = "SUPPRESSED"
    FAILED = "FAILED"


@strawberry.type(description="A line of an invoice or an item of an offer.")
class DocumentLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = strawberry.field(description="Percent.")
    net: Decimal
    tax: Decimal


def _lines(raw: str) -> list[DocumentLine]:
    return [DocumentLine(description=line["description"], quantity=Decimal(line["quantity"]),
                         unit_price=from_cents(line["unitPriceCents"]),
                         tax_rate=Decimal(line["taxRate"]), net=from_cents(line["netCents"]),
                         tax=from_cents(line["taxCents"]))
            for line in json.loads(raw or "[]")]


def _gid(kind: str, value: int) -> relay.GlobalID:
    return relay.GlobalID(kind, str(value))


def _ts(value) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@strawberry.type
class _Document:
    """What invoices, opportunities and offers share."""

    campaign_id: relay.GlobalID
    target_id: relay.GlobalID = strawberry.field(description="The Company, Contact or Lead.")
    delivery_id: int = strawberry.field(description="The ledger row it was made for.")
    currency: str
    created_at: datetime
    updated_at: datetime


def _common(row: dict) -> dict:
    return dict(campaign_id=_gid("Campaign", row["campaign"]),
                target_id=_gid(row["target_kind"].title(), row["target_id"]),
                delivery_id=row["delivery"], currency=row["currency"],
                created_at=_ts(row["created_at"]), updated_at=_ts(row["updated_at"]))


@strawberry.type
class _Mailed(_Document):
    net: Decimal
    tax: Decimal
    gross: Decimal
    document: str = strawberry.field(description="The rendered HTML document.")
    recipient_address: str | None
    email_status: DocumentEmailStatus
    email_error: str
    message_id: str | None


def _mailed(row: dict) -> dict:
    return dict(**_common(row), net=from_cents(row["net_cents"]), tax=from_cents(row["tax_cents"]),
                gross=from_cents(row["gross_cents"]), document=row["document"],
                recipient_address=row["recipient_address"],
                email_status=DocumentEmailStatus(row["email_status"]),
                email_error="" if row["email_status"] == "SENDING" else row["email_error"] or "",
                message_id=row["message_id"])


async def _nodes(cls, table, info: Info, node_ids: Iterable[str]):
    info.context.require_member()
    ids = [int(i) for i in node_ids if str(i).isdigit()]
    rows = {r["id"]: r for r in await table.select().where(table.id.is_in(ids or [0]))}
    return [cls.from_row(rows[i]) if i in rows else None for i in ids]


@strawberry.type(description="An invoice: numbered without gaps per year.")
class Invoice(relay.Node, _Mailed):
    id: relay.NodeID[int]
    number: str = strawberry.field(description="Year and sequence, e.g. 2026-000042.")
    year: int
    sequence: int = strawberry.field(description="The number within its year: 1, 2, 3, …")
    lines: list[DocumentLine]
    issue_date: date
    due_date: date
    status: InvoiceStatus
    paid_at: datetime | None
    cancel_reason: str

    @classmethod
    def from_row(cls, row: dict) -> "Invoice":
        return cls(id=row["id"], number=row["display_number"], year=row["year"],
                   sequence=row["number"], lines=_lines(row["lines"]),
                   issue_date=as_date(row["issue_date"]), due_date=as_date(row["due_date"]),
                   status=InvoiceStatus(row["status"]), paid_at=_ts(row["paid_at"]),
                   cancel_reason=row["cancel_reason"] or "", **_mailed(row))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        return await _nodes(cls, tables.Invoice, info, node_ids)


@strawberry.type
class StageChange:
    stage: OpportunityStage
    probability: int
    at: datetime
    by_id: relay.GlobalID | None = strawberry.field(description="The TeamMember (null: the launch).")


@strawberry.type(description="A sales opportunity.")
class Opportunity(relay.Node, _Document):
    id: relay.NodeID[int]
    title: str
    stage: OpportunityStage
    value: Decimal
    probability: int = strawberry.field(description="Percent.")
    expected_close: date | None
    closed_at: datetime | None
    stage_history: list[StageChange]
    owner_id: strawberry.Private[int | None]

    @strawberry.field(description="Who works it.")
    async def owner(self, info: Info) -> TeamMember | None:
        if self.owner_id is None:
            return None
        row = await info.context.loaders.member.load(self.owner_id)
        return TeamMember.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: dict) -> "Opportunity":
        history = [StageChange(stage=Stage(h["stage"]), probability=h["probability"],
                               at=datetime.fromisoformat(h["at"]),
                               by_id=_gid("TeamMember", h["by"]) if h.get("by") else None)
                   for h in json.loads(row["stage_history"] or "[]")]
        return cls(id=row["id"], title=row["title"], stage=Stage(row["stage"]),
                   value=from_cents(row["value_cents"]), probability=row["probability"],
                   expected_close=as_date(row["expected_close"]) if row["expected_close"]
                   else None, closed_at=_ts(row["closed_at"]), stage_history=history,
                   owner_id=row["owner"], **_common(row))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        return await _nodes(cls, tables.Opportunity, info, node_ids)


@strawberry.type(description="An offer: items and totals, valid until a day (inclusive).")
class Offer(relay.Node, _Mailed):
    id: relay.NodeID[int]
    items: list[DocumentLine]
    valid_until: date
    status: OfferStatus = strawberry.field(description="EXPIRED: still open after validUntil.")
    decided_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> "Offer":
        valid_until = as_date(row["valid_until"])
        status = row["status"]
        if status == "OPEN" and valid_until < today():
            status = "EXPIRED"
        return cls(id=row["id"], items=_lines(row["items"]), valid_until=valid_until,
                   status=OfferStatus(status), decided_at=_ts(row["decided_at"]), **_mailed(row))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        return await _nodes(cls, tables.Offer, info, node_ids)


@strawberry.input
class InvoiceFilter:
    campaign_id: relay.GlobalID | None = None
    status: InvoiceStatus | None = None
    year: int | None = None


@strawberry.input
class OpportunityFilter:
    campaign_id: relay.GlobalID | None = None
    stage: OpportunityStage | None = None
    owner_id: relay.GlobalID | None = None


@strawberry.input
class OfferFilter:
    campaign_id: relay.GlobalID | None = None
    status: OfferStatus | None = None


def _campaign(table, value: relay.GlobalID | None) -> list:
    if value is None:
        return []
    return [table.campaign == (id_of(value, "Campaign") or -1)]


async def _by_id(cls, table, info: Info, value: relay.GlobalID):
    info.context.require_member()
    doc_id = id_of(value, cls.__name__)
    if doc_id is None:
        return None
    rows = await table.select().where(table.id == doc_id)
    return cls.from_row(rows[0]) if rows else None


def _page(info: Info, table, cls, where, first, after, last, before):
    info.context.require_member()
    return keyset_connection(table, cls.from_row, first=first, after=after, last=last,
                             before=before, where=where,
                             max_page_size=info.context.platform.settings.max_page_size)


@strawberry.type
class SalesQueries:
    @strawberry.field(description="Invoices, newest first.")
    async def invoices(self, info: Info, filter: InvoiceFilter | None = None,
                       first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None
                       ) -> relay.Connection[Invoice]:
        f, t = filter or InvoiceFilter(), tables.Invoice
        where = _campaign(t, f.campaign_id)
        if f.status is not None:
            where.append(t.status == f.status.value)
        if f.year is not None:
            where.append(t.year == f.year)
        return await _page(info, t, Invoice, where, first, after, last, before)

    @strawberry.field
    async def invoice(self, info: Info, id: relay.GlobalID) -> Invoice | None:
        return await _by_id(Invoice, tables.Invoice, info, id)

    @strawberry.field(description="Sales opportunities, newest first.")
    async def opportunities(self, info: Info, filter: OpportunityFilter | None = None,
                            first: int | None = None, after: str | None = None,
                            last: int | None = None, before: str | None = None
                            ) -> relay.Connection[Opportunity]:
        f, t = filter or OpportunityFilter(), tables.Opportunity
        where = _campaign(t, f.campaign_id)
        if f.stage is not None:
            where.append(t.stage == Stage(f.stage).value)
        if f.owner_id is not None:
            where.append(t.owner == (id_of(f.owner_id, "TeamMember") or -1))
        return await _page(info, t, Opportunity, where, first, after, last, before)

    @strawberry.field
    async def opportunity(self, info: Info, id: relay.GlobalID) -> Opportunity | None:
        return await _by_id(Opportunity, tables.Opportunity, info, id)

    @strawberry.field(description="Offers, newest first.")
    async def offers(self, info: Info, filter: OfferFilter | None = None,
                     first: int | None = None, after: str | None = None,
                     last: int | None = None, before: str | None = None
                     ) -> relay.Connection[Offer]:
        f, t = filter or OfferFilter(), tables.Offer
        where = _campaign(t, f.campaign_id)
        if f.status is OfferStatus.EXPIRED:
            where += [t.status == "OPEN", t.valid_until < today()]
        elif f.status is OfferStatus.OPEN:
            where += [t.status == "OPEN", t.valid_until >= today()]
        elif f.status is not None:
            where.append(t.status == f.status.value)
        return await _page(info, t, Offer, where, first, after, last, before)

    @strawberry.field
    async def offer(self, info: Info, id: relay.GlobalID) -> Offer | None:
        return await _by_id(Offer, tables.Offer, info, id)
