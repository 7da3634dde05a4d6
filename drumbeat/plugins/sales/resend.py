"""Emailing an invoice or an offer again, when its first email FAILED (e.g. an SMTP 5xx)
or stayed PENDING (an invoice numbered for an email its delivery never completed).

* Who: the people who change sales documents (``service.require_sales_editor``).
* Which: ``FAILED``, or ``PENDING`` once its delivery is final — a delivery still pending or
  claimed will be (or is being) sent by the worker, which would make it a second email.
  ``SENT``, ``NOT_SENT``, ``SUPPRESSED`` and cancelled invoices are refused.
* What: the stored document (its number, lines, totals) as the HTML body, the subject and
  text rendered with the step's templates as the action renders them, the recipient's
  address checked against the suppression list now, header values checked, and the SAME
  Message-ID as the first send (``message_id_for`` of the delivery's key), so a receiver
  that got the first one after all drops the duplicate.
* Once: the document is taken with a compare-and-set to ``SENDING`` (committed before the
  SMTP conversation, so no transaction is held open while sending). Its lease — a deadline
  and a token, kept in ``email_error`` while ``SENDING`` — lets a later resend take it over
  if this process died mid-send (after ``lease_seconds``). The outcome (``SENT``, else
  ``FAILED`` with the reason) and an audit entry are written together, only by the holder.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from pydantic import ValidationError

from drumbeat import ActionContext, Target, TemplateProblem, delivery_context, message_id_for
from drumbeat.plugins.sales import documents
from drumbeat.plugins.sales.invoice_action import invoice_context, invoice_sources
from drumbeat.plugins.sales.money import Totals
from drumbeat.plugins.sales.offer_action import offer_context, offer_sources
from drumbeat.plugins.sales.service import _document, as_date, require_sales_editor, utcnow
from drumbeat.schema_kit import DomainError, ErrorCode, Member, audit, require_member

SENDING = "SENDING"
_LEASE = "resending:"  # email_error while SENDING: "resending:<deadline epoch>:<token>"
_FINAL_DELIVERY = ("done", "failed", "skipped")


@dataclass(frozen=True)
class Kind:
    """What differs between resending an invoice and an offer."""

    table: str
    what: str  # "invoice" | "offer"
    sources: Callable[[ActionContext], documents.Sources]
    context: Callable[[dict, Totals], dict]  # the document's own template variables
    label: Callable[[dict], Any]  # how the audit names it


INVOICE = Kind("drumbeat_invoice", "invoice", invoice_sources,
               lambda row, sums: invoice_context(row["display_number"], as_date(row["issue_date"]),
                                                 as_date(row["due_date"]), sums, row["currency"]),
               lambda row: row["display_number"])
OFFER = Kind("drumbeat_offer", "offer", offer_sources,
             lambda row, sums: offer_context(sums, as_date(row["valid_until"]), row["currency"]),
             lambda row: row["id"])


async def resend_email(platform: Any, member: Member | None, kind: Kind, doc_id: int) -> dict:
    """Email document ``doc_id`` again; returns it with its new email status (``SENT``, or
    ``FAILED`` with the server's answer — the request itself did not fail then)."""
    require_member(member)
    db = platform.db
    row = await _document(db, kind.table, doc_id, kind.what)
    member = await require_sales_editor(db, member, row["campaign"])
    stale_lease = await _check_resendable(db, kind, row)
    ctx, target = await _recipient(platform, kind, row)
    rendered = _render(ctx, kind, row, target)
    suppressed = await ctx.suppression.suppressed([target.address])
    if suppressed:
        reason = next(iter(suppressed.values()))
        raise DomainError.one(f"{target.address} is on the suppression list ({reason}): "
                              "it is not emailed.", ErrorCode.INVALID_STATE, ["id"])
    lease = await _take(db, kind, row, stale_lease, platform.settings.lease_seconds)
    try:
        result = (await documents.send(ctx, [(target, rendered)]))[target.delivery_id].outcome
    except Exception as exc:  # the lease is ours: record the failure, never leave SENDING
        await _finish(platform, member, kind, row, lease, target, "FAILED",
                      f"resend: {type(exc).__name__}: {exc}", None)
        raise
    if result.status == "done":
        await _finish(platform, member, kind, row, lease, target, "SENT", "", result.message_id)
    else:  # a 4xx as well: nothing retries a resend, the member may try again
        await _finish(platform, member, kind, row, lease, target, "FAILED",
                      result.error or "failed", None)
    return await _document(db, kind.table, doc_id, kind.what)


async def _check_resendable(db, kind: Kind, row: dict) -> str | None:
    """Refuse what must not be emailed again; returns an expired resend lease to take over."""
    def refuse(message: str):
        raise DomainError.one(message, ErrorCode.INVALID_STATE, ["id"])

    if kind is INVOICE and row["status"] == "CANCELLED":
        refuse("A cancelled invoice is not emailed again.")
    status = row["email_status"]
    if status == "SENT":
        refuse(f"The {kind.what} was emailed already.")
    if status == "SUPPRESSED":
        refuse(f"The {kind.what}'s address is on the suppression list: it is not emailed.")
    if status == "NOT_SENT":
        refuse(f"The {kind.what} has no email address." if row["email_error"] == "no address"
               else f"The {kind.what} was not emailed because its campaign's sendEmails is "
                    "off.")
    if status == SENDING:
        if _lease_deadline(row["email_error"]) > time.time():
            refuse(f"The {kind.what} is being emailed right now.")
        return row["email_error"]
    if status == "PENDING":
        state = await db.fetchval("SELECT state FROM drumbeat_delivery WHERE id = {}",
                                  row["delivery"])
        if state is not None and state not in _FINAL_DELIVERY:
            refuse(f"The campaign is still sending the {kind.what} (its delivery is "
                   f"{state}).")
    elif status != "FAILED":
        refuse(f"The {kind.what}'s email is {status}.")
    return None


async def _recipient(platform: Any, kind: Kind, row: dict) -> tuple[ActionContext, Target]:
    """The context and target the step's worker would have now (``delivery_context``: the
    campaign, the step's config, the recipient's current data and sender, the delivery's
    key), addressed to the document's recipient."""
    try:
        found = await delivery_context(platform, row["delivery"])
    except ValidationError as exc:
        raise DomainError.one(f"The action's config is no longer valid: "
                              f"{exc.errors()[0]['msg']}", ErrorCode.INVALID_CONFIG,
                              ["id"]) from None
    if found is None:
        raise DomainError.one(f"The campaign step that made the {kind.what} no longer exists.",
                              ErrorCode.INVALID_STATE, ["id"])
    ctx, target = found
    if not ctx.campaign.send_emails:
        raise DomainError.one(f"The campaign's sendEmails is off: the {kind.what} is not "
                              "emailed.", ErrorCode.INVALID_STATE, ["id"])
    return ctx, replace(target, address=row["recipient_address"])


def _render(ctx: ActionContext, kind: Kind, row: dict, target: Target) -> documents.Rendered:
    """Subject and text rendered as the action renders them; the body is the stored
    document (what was issued), not a new rendering of it."""
    lines = json.loads(row["lines"] if kind is INVOICE else row["items"])
    sums = Totals(lines, row["net_cents"], row["tax_cents"], row["gross_cents"])
    try:
        fresh = documents.render(ctx, target, kind.sources(ctx), kind.context(row, sums))
    except TemplateProblem as exc:
        raise DomainError.one(f"The {kind.what}'s email template fails: {exc}",
                              ErrorCode.INVALID_CONFIG, ["id"]) from None
    rendered = documents.Rendered(fresh.subject, fresh.text, row["document"])
    why = documents.unsendable(target, rendered)
    if why:
        code = ErrorCode.INVALID_STATE if why == "no address" else ErrorCode.INVALID
        raise DomainError.one(f"The {kind.what} cannot be emailed: {why}.", code, ["id"])
    return rendered


async def _take(db, kind: Kind, row: dict, stale_lease: str | None, lease_seconds: float) -> str:
    """Mark the document ``SENDING`` under a fresh lease, if nobody else did meanwhile."""
    lease = f"{_LEASE}{time.time() + lease_seconds:.3f}:{secrets.token_hex(8)}"
    if stale_lease is None:
        where, args = "email_status IN ('FAILED', 'PENDING')", ()
    else:
        where, args = "email_status = {} AND email_error = {}", (SENDING, stale_lease)
    async with db.transaction():
        taken = await db.fetch(
            f"UPDATE {kind.table} SET email_status = {{}}, email_error = {{}}, updated_at = {{}}"
            f" WHERE id = {{}} AND {where} RETURNING id",
            SENDING, lease, utcnow(), row["id"], *args)
    if not taken:
        raise DomainError.one(f"The {kind.what} is being emailed meanwhile: reload it.",
                              ErrorCode.INVALID_STATE, ["id"])
    return lease


async def _finish(platform: Any, member: Member, kind: Kind, row: dict, lease: str,
                  target: Target, status: str, error: str, message_id: str | None) -> None:
    """Record the outcome and its audit entry (with the Message-ID the email carried) —
    only while the lease is still ours."""
    db, settings = platform.db, platform.settings
    async with db.transaction():
        mine = await db.fetch(
            f"UPDATE {kind.table} SET email_status = {{}}, email_error = {{}},"
            f" message_id = {{}}, updated_at = {{}}"
            f" WHERE id = {{}} AND email_status = {{}} AND email_error = {{}} RETURNING id",
            status, error[:2000], message_id, utcnow(), row["id"], SENDING, lease)
        if mine:
            await audit.record(member, row["campaign"], f"{kind.what}.email_resent", [
                audit.Change(kind.what, None, kind.label(row)),
                audit.Change("to", None, target.address),
                audit.Change("emailStatus", row["email_status"], status),
                *([audit.Change("emailError", None, error[:500])] if error else []),
                audit.Change("messageId", None, message_id_for(target.key, settings))])


def _lease_deadline(value: str) -> float:
    """A ``SENDING`` document's lease deadline (0: none, or unreadable — take it over)."""
    try:
        return float((value or "").removeprefix(_LEASE).split(":", 1)[0])
    except ValueError:
        return 0.0
