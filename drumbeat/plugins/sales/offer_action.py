"""The ``offer`` action: one offer per target (items, totals, valid until a date), rendered
from a document template and emailed unless sendEmails is off.

The offer is inserted by ``persist``, in the transaction that marks the delivery done. An
SMTP 4xx retries the delivery (nothing is stored yet); an SMTP 5xx, a suppressed address or
no address still stores the offer, with email status ``FAILED`` (and the reason),
``SUPPRESSED`` or ``NOT_SENT`` — it can be handed over another way; the delivery is done.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import Sequence

from drumbeat import ActionContext, ActionType, Outcome, Target, TemplateProblem
from drumbeat.plugins.sales import documents
from drumbeat.plugins.sales.config import OfferConfig
from drumbeat.plugins.sales.money import Totals, totals


class OfferAction(ActionType):
    key = "offer"
    label = "Offer"
    Config = OfferConfig
    recipient_kinds = ("company", "contact")
    produces = "offer"

    def check_config(self, config: OfferConfig, templates):
        return documents.check_templates(config, templates)

    def render_sample(self, ctx: ActionContext, target: Target):
        r = self._render(ctx, target, *self._terms(ctx))
        return {"subject": r.subject, "text": r.text, "html": r.html}

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        sums, valid_until = self._terms(ctx)
        emailing = ctx.campaign.send_emails
        blocked = await documents.suppressed(ctx, batch) if emailing else {}
        outcomes, mails, rendered_by = [], [], {}
        for target in batch:
            try:
                rendered = self._render(ctx, target, sums, valid_until)
            except TemplateProblem as exc:
                outcomes.append(Outcome.failed(target, f"template: {exc}"))
                continue
            rendered_by[target.delivery_id] = rendered
            store = partial(self._row, ctx, target, sums, valid_until, rendered.html)
            reason = blocked.get((target.address or "").strip().lower())
            why = documents.unsendable(target, rendered) if emailing else None
            if not emailing:
                outcomes.append(Outcome.done(target, persist=store("NOT_SENT", "")))
            elif reason:
                outcomes.append(Outcome.done(target, persist=store(
                    "SUPPRESSED", f"SUPPRESSED ({reason})")))
            elif why:
                outcomes.append(Outcome.done(target, persist=store(
                    "NOT_SENT" if why == "no address" else "FAILED", why)))
            else:
                mails.append((target, rendered))
        results = await documents.send(ctx, mails)
        for target, rendered in mails:
            result = results[target.delivery_id].outcome
            store = partial(self._row, ctx, target, sums, valid_until, rendered.html)
            if result.status == "retry":
                outcomes.append(result)
            elif result.status == "done":
                outcomes.append(Outcome.done(target, result.message_id,
                                             persist=store("SENT", "", result.message_id)))
            else:
                outcomes.append(Outcome.done(target, persist=store(
                    "FAILED", result.error or "failed")))
        tests = {t.delivery_id for t in batch if t.test}  # a test send stores nothing
        return [replace(o, persist=None) if o.delivery_id in tests else o for o in outcomes]

    def _terms(self, ctx: ActionContext) -> tuple[Totals, date]:
        today = datetime.now(timezone.utc).date()
        return totals(ctx.config.items), today + timedelta(days=ctx.config.valid_for_days)

    def _render(self, ctx, target, sums: Totals, valid_until: date) -> documents.Rendered:
        return documents.render(ctx, target, offer_sources(ctx),
                                offer_context(sums, valid_until, ctx.config.currency))

    def _row(self, ctx, target: Target, sums: Totals, valid_until: date, html: str,
             status: str, error: str, message_id: str | None = None):
        now = datetime.now(timezone.utc)
        row = {"delivery": target.delivery_id, "campaign": ctx.campaign.id,
               "step": ctx.step_id, "target_kind": target.kind, "target_id": target.id,
               "currency": ctx.config.currency, "items": json.dumps(sums.lines),
               "net_cents": sums.net_cents, "tax_cents": sums.tax_cents,
               "gross_cents": sums.gross_cents, "valid_until": valid_until, "status": "OPEN",
               "document": html, "recipient_address": target.address,
               "email_status": status, "email_error": error[:2000], "message_id": message_id,
               "created_at": now, "updated_at": now}
        return partial(_insert, row)


def offer_sources(ctx: ActionContext) -> documents.Sources:
    """The step's templates, else the campaign's DOCUMENT template, else the built-in ones."""
    return documents.sources(ctx.config, ctx.campaign, documents.DEFAULT_OFFER_DOCUMENT,
                             documents.DEFAULT_OFFER_SUBJECT, documents.DEFAULT_OFFER_TEXT)


def offer_context(sums: Totals, valid_until: date, currency: str) -> dict:
    """``offer``: what the templates see of an offer (also for a resend of its email)."""
    return {"offer": {"lines": documents.lines_context(sums),
                      "valid_until": valid_until.isoformat(),
                      **documents.amounts_context(sums, currency)}}


async def _insert(row: dict, db) -> None:
    columns = ", ".join(row)
    marks = ", ".join("{}" for _ in row)
    await db.execute(f"INSERT INTO drumbeat_offer ({columns}) VALUES ({marks})"
                     " ON CONFLICT (delivery) DO NOTHING", *row.values())
