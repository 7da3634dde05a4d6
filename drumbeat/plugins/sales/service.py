"""What sales people do with the documents: mark an invoice paid or cancel it, move an
opportunity through its stages, accept or decline an offer.

Who may: an admin, any member with the SALES role, or the owner of the document's
campaign; another marketer may read but not change them. Each change is a conditional
UPDATE (so two clicks at once change it once) with an audit entry on the document's
campaign, in one transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from drumbeat.plugins.sales.config import CLOSED_STAGES, STAGE_PROBABILITY, Stage
from drumbeat.schema_kit import DomainError, ErrorCode, Member, Role, audit, require_member


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def today() -> date:
    return utcnow().date()


async def _document(db, table: str, doc_id: int, what: str) -> dict:
    row = await db.fetchrow(f"SELECT * FROM {table} WHERE id = {{}}", doc_id)
    if row is None:
        raise DomainError.one(f"No such {what}.", ErrorCode.NOT_FOUND, ["id"])
    return row


async def require_sales_editor(db, member: Member | None, campaign_id: int) -> Member:
    """Admins, the SALES role and the campaign's owner change sales documents."""
    member = require_member(member)
    if member.is_admin or member.role is Role.SALES:
        return member
    owner = await db.fetchval("SELECT owner FROM drumbeat_campaign WHERE id = {}", campaign_id)
    if owner != member.id:
        raise DomainError.one("Only sales, an admin or the campaign's owner may do this.",
                              ErrorCode.FORBIDDEN)
    return member


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def _changed(db, table: str, doc_id: int, sets: dict[str, Any], where: str,
                   *args: Any) -> bool:
    """``UPDATE table SET … WHERE id = … AND <where>``: did it change a row?"""
    assignments = ", ".join(f"{name} = {{}}" for name in sets)
    rows = await db.fetch(f"UPDATE {table} SET {assignments} WHERE id = {{}} AND {where}"
                          " RETURNING id", *sets.values(), doc_id, *args)
    return bool(rows)


async def invoice_mark_paid(db, member: Member | None, invoice_id: int,
                            paid_at: datetime | None) -> dict:
    """Mark an issued invoice paid. Already paid: answered with the invoice unchanged (its
    first payment date stays); cancelled: refused."""
    require_member(member)
    invoice = await _document(db, "drumbeat_invoice", invoice_id, "invoice")
    member = await require_sales_editor(db, member, invoice["campaign"])
    paid_at = _aware(paid_at) if paid_at else utcnow()
    if paid_at > utcnow():
        raise DomainError.one("The payment date cannot be in the future.", ErrorCode.INVALID,
                              ["paidAt"])
    if paid_at.date() < as_date(invoice["issue_date"]):
        raise DomainError.one("The payment date is before the invoice was issued.",
                              ErrorCode.INVALID, ["paidAt"])
    async with db.transaction():
        if await _changed(db, "drumbeat_invoice", invoice_id,
                          {"status": "PAID", "paid_at": paid_at, "updated_at": utcnow()},
                          "status = 'ISSUED'"):
            await audit.record(member, invoice["campaign"], "invoice.paid", [
                audit.Change("invoice", None, invoice["display_number"]),
                audit.Change("status", "ISSUED", "PAID"),
                audit.Change("paidAt", None, paid_at)])
    current = await _document(db, "drumbeat_invoice", invoice_id, "invoice")
    if current["status"] == "CANCELLED":
        raise DomainError.one("A cancelled invoice cannot be paid.", ErrorCode.INVALID_STATE,
                              ["id"])
    return current


async def invoice_cancel(db, member: Member | None, invoice_id: int, reason: str) -> dict:
    """Cancel an issued invoice (its number stays used: numbers never come back). Paid:
    refused; already cancelled: answered unchanged."""
    require_member(member)
    invoice = await _document(db, "drumbeat_invoice", invoice_id, "invoice")
    member = await require_sales_editor(db, member, invoice["campaign"])
    reason = (reason or "").strip()
    if not reason:
        raise DomainError.one("Give the reason for cancelling.", ErrorCode.REQUIRED, ["reason"])
    if len(reason) > 1000:
        raise DomainError.one("At most 1000 characters.", ErrorCode.TOO_LONG, ["reason"])
    async with db.transaction():
        if await _changed(db, "drumbeat_invoice", invoice_id,
                          {"status": "CANCELLED", "cancel_reason": reason,
                           "updated_at": utcnow()}, "status = 'ISSUED'"):
            await audit.record(member, invoice["campaign"], "invoice.cancelled", [
                audit.Change("invoice", None, invoice["display_number"]),
                audit.Change("status", "ISSUED", "CANCELLED"),
                audit.Change("reason", None, reason)])
    current = await _document(db, "drumbeat_invoice", invoice_id, "invoice")
    if current["status"] == "PAID":
        raise DomainError.one("A paid invoice cannot be cancelled.", ErrorCode.INVALID_STATE,
                              ["id"])
    return current


async def opportunity_move_stage(db, member: Member | None, opportunity_id: int, stage: Stage,
                                 probability: int | None) -> dict:
    """Move an open opportunity to ``stage`` (WON or LOST close it: probability 100 or 0)."""
    require_member(member)
    row = await _document(db, "drumbeat_opportunity", opportunity_id, "opportunity")
    member = await require_sales_editor(db, member, row["campaign"])
    if probability is not None and not 0 <= probability <= 100:
        raise DomainError.one("A probability is a percentage between 0 and 100.",
                              ErrorCode.INVALID, ["probability"])
    closing = stage in CLOSED_STAGES
    if closing and probability is not None and probability != STAGE_PROBABILITY[stage]:
        raise DomainError.one(f"A {stage.value} opportunity has probability "
                              f"{STAGE_PROBABILITY[stage]}.", ErrorCode.INVALID, ["probability"])
    if probability is None:
        probability = STAGE_PROBABILITY[stage]
    if row["stage"] in {s.value for s in CLOSED_STAGES}:
        raise DomainError.one(f"The opportunity is closed ({row['stage']}).",
                              ErrorCode.INVALID_STATE, ["id"])
    now = utcnow()
    history = json.loads(row["stage_history"] or "[]") + [
        {"stage": stage.value, "probability": probability, "at": now.isoformat(),
         "by": member.id}]
    async with db.transaction():
        if not await _changed(db, "drumbeat_opportunity", opportunity_id, {
                "stage": stage.value, "probability": probability,
                "stage_history": json.dumps(history), "closed_at": now if closing else None,
                "updated_at": now}, "stage = {}", row["stage"]):
            raise DomainError.one("The opportunity changed meanwhile: reload and try again.",
                                  ErrorCode.INVALID_STATE, ["id"])
        await audit.record(member, row["campaign"], "opportunity.stage", [
            audit.Change("opportunity", None, opportunity_id),
            audit.Change("stage", row["stage"], stage.value),
            audit.Change("probability", row["probability"], probability)])
    return await _document(db, "drumbeat_opportunity", opportunity_id, "opportunity")


async def offer_decide(db, member: Member | None, offer_id: int, accepted: bool) -> dict:
    """Accept or decline an open offer; refused once it has expired (after its validUntil
    day) or was decided."""
    require_member(member)
    offer = await _document(db, "drumbeat_offer", offer_id, "offer")
    member = await require_sales_editor(db, member, offer["campaign"])
    if offer["status"] != "OPEN":
        raise DomainError.one(f"The offer was {offer['status'].lower()} already.",
                              ErrorCode.INVALID_STATE, ["id"])
    if as_date(offer["valid_until"]) < today():
        raise DomainError.one(f"The offer expired on {as_date(offer['valid_until'])}.",
                              ErrorCode.INVALID_STATE, ["id"])
    status = "ACCEPTED" if accepted else "DECLINED"
    async with db.transaction():
        if not await _changed(db, "drumbeat_offer", offer_id,
                              {"status": status, "decided_at": utcnow(), "updated_at": utcnow()},
                              "status = 'OPEN'"):
            raise DomainError.one("The offer was decided meanwhile.", ErrorCode.INVALID_STATE,
                                  ["id"])
        await audit.record(member, offer["campaign"], f"offer.{status.lower()}", [
            audit.Change("offer", None, offer_id), audit.Change("status", "OPEN", status)])
    return await _document(db, "drumbeat_offer", offer_id, "offer")


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
