"""Invoice numbers without gaps per year.

An invoice gets its number in the transaction that inserts it: the year's counter row is
created if missing (``INSERT … ON CONFLICT DO NOTHING``, safe under concurrency), locked
(``FOR UPDATE`` on PostgreSQL; SQLite's IMMEDIATE transaction already holds the write
lock), bumped by the number of invoices still missing with ``UPDATE … RETURNING``, and the
invoices inserted. A rolled-back transaction rolls its numbers back with it; an invoice
that already exists for a delivery (a retry, a chunk delivered twice) keeps its number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable, Sequence

from drumbeat import Database
from drumbeat.plugins.sales.money import Totals


@dataclass(frozen=True)
class InvoiceDraft:
    delivery_id: int
    campaign_id: int
    step_id: int
    target_kind: str
    target_id: int
    currency: str
    totals: Totals
    issue_date: date
    due_date: date
    address: str | None
    email_status: str  # PENDING (to be emailed) | NOT_SENT | SUPPRESSED | FAILED
    email_error: str = ""


def display_number(year: int, number: int) -> str:
    return f"{year}-{number:06d}"


#: Renders a draft's document once its display number is known.
RenderDocument = Callable[[InvoiceDraft, str], str]

_COLUMNS = ("delivery, campaign, step, target_kind, target_id, year, number, display_number,"
            " currency, lines, net_cents, tax_cents, gross_cents, issue_date, due_date, status,"
            " cancel_reason, document, recipient_address, email_status, email_error,"
            " created_at, updated_at")


async def issue_invoices(db: Database, drafts: Sequence[InvoiceDraft],
                         render: RenderDocument) -> dict[int, dict]:
    """Number and insert the invoices of ``drafts`` that do not exist yet, in one
    transaction (joining the caller's, e.g. a ``persist``); returns every draft's invoice
    (``id``, ``number``, ``display_number``, ``document``) by delivery id."""
    if not drafts:
        return {}
    async with db.transaction():
        for year in sorted({d.issue_date.year for d in drafts}):
            await _issue_year(db, year, [d for d in drafts if d.issue_date.year == year], render)
        marks = ", ".join("{}" for _ in drafts)
        rows = await db.fetch(
            f"SELECT id, delivery, number, display_number, document FROM drumbeat_invoice"
            f" WHERE delivery IN ({marks})", *(d.delivery_id for d in drafts))
    return {r["delivery"]: r for r in rows}


async def _issue_year(db: Database, year: int, drafts: Sequence[InvoiceDraft],
                      render: RenderDocument) -> None:
    await db.execute("INSERT INTO drumbeat_invoice_counter (year, last_number) VALUES ({}, 0)"
                     " ON CONFLICT (year) DO NOTHING", year)
    lock = " FOR UPDATE" if db.dialect == "postgres" else ""
    await db.fetchval(f"SELECT last_number FROM drumbeat_invoice_counter WHERE year = {{}}{lock}",
                      year)
    # Under the lock: which deliveries have no invoice yet (committed ones are visible).
    marks = ", ".join("{}" for _ in drafts)
    have = {r["delivery"] for r in await db.fetch(
        f"SELECT delivery FROM drumbeat_invoice WHERE delivery IN ({marks})",
        *(d.delivery_id for d in drafts))}
    missing = [d for d in drafts if d.delivery_id not in have]
    if not missing:
        return
    last = await db.fetchval(
        "UPDATE drumbeat_invoice_counter SET last_number = last_number + {} WHERE year = {}"
        " RETURNING last_number", len(missing), year)
    stamp = datetime.now(timezone.utc)
    rows = []
    for number, draft in enumerate(missing, start=last - len(missing) + 1):
        shown = display_number(year, number)
        t = draft.totals
        rows.append((draft.delivery_id, draft.campaign_id, draft.step_id, draft.target_kind,
                     draft.target_id, year, number, shown, draft.currency, json.dumps(t.lines),
                     t.net_cents, t.tax_cents, t.gross_cents, draft.issue_date, draft.due_date,
                     "ISSUED", "", render(draft, shown), draft.address, draft.email_status,
                     draft.email_error, stamp, stamp))
    marks = ", ".join("{}" for _ in rows[0])
    for row in rows:  # few per chunk; one statement each keeps it in this transaction
        await db.execute(f"INSERT INTO drumbeat_invoice ({_COLUMNS}) VALUES ({marks})", *row)


async def set_email_status(db: Database, table: str, delivery_id: int, status: str,
                           error: str = "", message_id: str | None = None) -> None:
    """Record what happened to a document's email (``table`` is a constant of ours)."""
    await db.execute(
        f"UPDATE {table} SET email_status = {{}}, email_error = {{}}, message_id = {{}},"
        f" updated_at = {{}} WHERE delivery = {{}}",
        status, error[:2000], message_id, datetime.now(timezone.utc), delivery_id)
