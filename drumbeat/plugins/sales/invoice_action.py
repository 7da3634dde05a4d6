"""The ``invoice`` action: one invoice per target company or contact, numbered without
gaps per year, rendered from a document template and emailed unless sendEmails is off.

* sendEmails off: the invoice is numbered and inserted by ``persist``, in the transaction
  that marks the delivery done (email status ``NOT_SENT``).
* Emailing: the email must carry the invoice's number, so the invoices of the batch are
  numbered and inserted *before* sending, in one short transaction of their own
  (``numbering.issue_invoices``); the send's outcome is recorded by ``persist``. An SMTP
  4xx retries the delivery and the retry reuses the invoice and its number (no gap, no
  second invoice); a delivery that finally gives up leaves its invoice ``ISSUED`` with
  email status ``PENDING``. An SMTP 5xx, a suppressed address or no address: the invoice
  stands (it has a number), its email status says why it was not emailed
  (``FAILED`` + the reason, ``SUPPRESSED``, ``NOT_SENT``), and the delivery is done.
* ``FAILED`` and given-up ``PENDING`` invoices are emailed again by ``invoiceResendEmail``
  (``resend``), with the same Message-ID.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import Sequence

from drumbeat import ActionContext, ActionType, Outcome, Target, TemplateProblem
from drumbeat.plugins.sales import documents
from drumbeat.plugins.sales.config import InvoiceConfig
from drumbeat.plugins.sales.money import Totals, totals
from drumbeat.plugins.sales.numbering import (
    InvoiceDraft, issue_invoices, set_email_status,
)

SAMPLE_NUMBER = "0000-000000"


class InvoiceAction(ActionType):
    key = "invoice"
    label = "Invoice"
    Config = InvoiceConfig
    recipient_kinds = ("company", "contact")
    produces = "invoice"

    def check_config(self, config: InvoiceConfig, templates):
        return documents.check_templates(config, templates)

    def render_sample(self, ctx: ActionContext, target: Target):
        rendered = documents.render(ctx, target, self._sources(ctx),
                                    _context(ctx, self._draft(ctx, target, "PENDING"),
                                             SAMPLE_NUMBER))
        return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        src = self._sources(ctx)
        outcomes: list[Outcome] = []
        ready: list[tuple[Target, InvoiceDraft]] = []
        blocked = await documents.suppressed(ctx, batch) if ctx.campaign.send_emails else {}
        for target in batch:
            draft = self._draft(ctx, target, "PENDING")
            try:  # a template that fails fails the delivery before any number is used
                rendered = documents.render(ctx, target, src, _context(ctx, draft, SAMPLE_NUMBER))
            except TemplateProblem as exc:
                outcomes.append(Outcome.failed(target, f"template: {exc}"))
                continue
            if target.test:  # a test send: email only, no invoice
                ready.append((target, draft))
                continue
            if not ctx.campaign.send_emails:
                outcomes.append(Outcome.done(target, persist=partial(
                    self._persist, ctx, src, target, _with(draft, "NOT_SENT", ""))))
                continue
            reason = blocked.get((target.address or "").strip().lower())
            why = documents.unsendable(target, rendered)
            if reason:
                draft = _with(draft, "SUPPRESSED", f"SUPPRESSED ({reason})")
            elif why:
                draft = _with(draft, "NOT_SENT" if why == "no address" else "FAILED", why)
            ready.append((target, draft))
        return outcomes + await self._issue_and_send(ctx, src, ready)

    async def _issue_and_send(self, ctx, src, ready) -> list[Outcome]:
        if not ready:
            return []
        render = partial(_render_document, ctx, src, {d.delivery_id: t for t, d in ready})
        real = [d for t, d in ready if not t.test]
        if real and ctx.db is None:
            raise RuntimeError("the invoice action needs the database to number invoices")
        issued = await issue_invoices(ctx.db, real, render) if real else {}
        mails, outcomes = [], []
        for target, draft in ready:
            shown = issued[draft.delivery_id]["display_number"] if not target.test else SAMPLE_NUMBER
            if draft.email_status != "PENDING":
                outcomes.append(Outcome.done(target, persist=partial(
                    _record, draft.delivery_id, draft.email_status, draft.email_error, None)))
                continue
            context = _context(ctx, draft, shown)
            mails.append((target, documents.render(ctx, target, src, context)))
        results = await documents.send(ctx, mails)
        for target, _ in mails:
            result = results[target.delivery_id].outcome
            if target.test:
                outcomes.append(result)
            elif result.status == "retry":
                outcomes.append(result)  # the invoice keeps its number for the retry
            elif result.status == "done":
                outcomes.append(Outcome.done(target, result.message_id, persist=partial(
                    _record, target.delivery_id, "SENT", "", result.message_id)))
            else:
                outcomes.append(Outcome.done(target, persist=partial(
                    _record, target.delivery_id, "FAILED", result.error or "failed", None)))
        return outcomes

    async def _persist(self, ctx, src, target: Target, draft: InvoiceDraft, db) -> None:
        await issue_invoices(db, [draft], partial(_render_document, ctx, src,
                                                  {target.delivery_id: target}))

    def _sources(self, ctx: ActionContext) -> documents.Sources:
        return invoice_sources(ctx)

    def _draft(self, ctx: ActionContext, target: Target, status: str) -> InvoiceDraft:
        config: InvoiceConfig = ctx.config
        today = datetime.now(timezone.utc).date()
        return InvoiceDraft(
            delivery_id=target.delivery_id, campaign_id=ctx.campaign.id, step_id=ctx.step_id,
            target_kind=target.kind, target_id=target.id, currency=config.currency,
            totals=totals(config.lines), issue_date=today,
            due_date=today + timedelta(days=config.due_in_days), address=target.address,
            email_status=status)


def _with(draft: InvoiceDraft, status: str, error: str) -> InvoiceDraft:
    return InvoiceDraft(**{**draft.__dict__, "email_status": status, "email_error": error})


def _context(ctx: ActionContext, draft: InvoiceDraft, shown: str) -> dict:
    return invoice_context(shown, draft.issue_date, draft.due_date, draft.totals, draft.currency)


def invoice_context(shown: str, issue_date: date, due_date: date, sums: Totals,
                    currency: str) -> dict:
    """``invoice``: what the templates see of an invoice (also for a resend of its email)."""
    return {"invoice": {
        "number": shown, "issue_date": issue_date.isoformat(),
        "due_date": due_date.isoformat(), "lines": documents.lines_context(sums),
        **documents.amounts_context(sums, currency)}}


def invoice_sources(ctx: ActionContext) -> documents.Sources:
    """The step's templates, else the campaign's DOCUMENT template, else the built-in ones."""
    return documents.sources(ctx.config, ctx.campaign, documents.DEFAULT_INVOICE_DOCUMENT,
                             documents.DEFAULT_INVOICE_SUBJECT, documents.DEFAULT_INVOICE_TEXT)


def _render_document(ctx, src, targets: dict, draft: InvoiceDraft, shown: str) -> str:
    """The stored document (rendered once more with the real number; the template
    rendered with a sample number a moment ago, so it renders now)."""
    return documents.render(ctx, targets[draft.delivery_id], src, _context(ctx, draft, shown)).html


async def _record(delivery_id: int, status: str, error: str, message_id, db) -> None:
    await set_email_status(db, "drumbeat_invoice", delivery_id, status, error, message_id)

