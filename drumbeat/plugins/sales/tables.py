"""The sales plugin's tables: invoices (numbered without gaps per year), their counters,
opportunities and offers. Money is in integer cents; lines and items are JSON text."""

from __future__ import annotations

from piccolo.columns import BigInt, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Invoice(Table, tablename="drumbeat_invoice"):
    delivery = BigInt(unique=True)  # the ledger row it was made for
    campaign = BigInt()
    step = BigInt()
    target_kind = Varchar(length=10)  # company | contact
    target_id = BigInt()
    year = Integer()
    number = Integer()  # gapless per year: UNIQUE (year, number)
    display_number = Varchar(length=20)  # "2026-000042"
    currency = Varchar(length=3)
    lines = Text()  # JSON: [{description, quantity, unitPriceCents, taxRate, netCents, taxCents}]
    net_cents = BigInt()
    tax_cents = BigInt()
    gross_cents = BigInt()
    issue_date = Date()
    due_date = Date()
    status = Varchar(length=10)  # ISSUED | PAID | CANCELLED
    paid_at = Timestamptz(null=True, default=None)
    cancel_reason = Text(default="")
    document = Text()  # the rendered HTML
    recipient_address = Varchar(length=254, null=True, default=None)
    email_status = Varchar(length=12)  # PENDING | SENDING | SENT | NOT_SENT | SUPPRESSED | FAILED
    email_error = Text(default="")
    message_id = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class InvoiceCounter(Table, tablename="drumbeat_invoice_counter"):
    year = Integer(unique=True)
    last_number = Integer()


class Opportunity(Table, tablename="drumbeat_opportunity"):
    delivery = BigInt(unique=True)
    campaign = BigInt()
    step = BigInt()
    target_kind = Varchar(length=10)
    target_id = BigInt()
    title = Varchar(length=300)
    stage = Varchar(length=20)
    value_cents = BigInt()
    currency = Varchar(length=3)
    probability = Integer()
    owner = BigInt(null=True, default=None)  # a team member
    expected_close = Date(null=True, default=None)
    stage_history = Text()  # JSON: [{stage, probability, at, by}]
    closed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Offer(Table, tablename="drumbeat_offer"):
    delivery = BigInt(unique=True)
    campaign = BigInt()
    step = BigInt()
    target_kind = Varchar(length=10)
    target_id = BigInt()
    currency = Varchar(length=3)
    items = Text()  # JSON, like an invoice's lines
    net_cents = BigInt()
    tax_cents = BigInt()
    gross_cents = BigInt()
    valid_until = Date()
    status = Varchar(length=10)  # OPEN | ACCEPTED | DECLINED (EXPIRED is derived)
    decided_at = Timestamptz(null=True, default=None)
    document = Text()
    recipient_address = Varchar(length=254, null=True, default=None)
    email_status = Varchar(length=12)  # SENDING | SENT | NOT_SENT | SUPPRESSED | FAILED
    email_error = Text(default="")
    message_id = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


TABLES = (Invoice, InvoiceCounter, Opportunity, Offer)
