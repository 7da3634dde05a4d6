"""Rendering and emailing sales documents: the built-in layouts, the template variables a
document sees, the templates' checks, and one batch send through the public mail API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from drumbeat import (
    ActionContext, CampaignInfo, Envelope, Outcome, SendResult, Target, TemplateProblem, build_message,
    is_header_safe, message_id_for, transport_for,
)
from drumbeat.plugins.sales.money import Totals, money_text

DEFAULT_INVOICE_DOCUMENT = """<html><body>
<h1>Invoice {{ invoice.number }}</h1>
<p>{{ sender.name }}<br>{{ sender.email }}</p>
<p>To: {{ recipient.name }}{% if recipient.vat_id %} (VAT {{ recipient.vat_id }}){% endif %}</p>
<p>Issued {{ invoice.issue_date }} · due {{ invoice.due_date }}</p>
<table>
<tr><th>Description</th><th>Quantity</th><th>Unit price</th><th>Tax</th><th>Net</th></tr>
{% for line in invoice.lines %}<tr><td>{{ line.description }}</td><td>{{ line.quantity }}</td>
<td>{{ line.unit_price }}</td><td>{{ line.tax_rate }} %</td><td>{{ line.net }}</td></tr>
{% endfor %}</table>
<p>Net {{ invoice.net }} {{ invoice.currency }} · tax {{ invoice.tax }} {{ invoice.currency }}
· <strong>total {{ invoice.gross }} {{ invoice.currency }}</strong></p>
</body></html>"""
DEFAULT_INVOICE_SUBJECT = "Invoice {{ invoice.number }} from {{ sender.name }}"
DEFAULT_INVOICE_TEXT = """Hello {{ recipient.name }},

please find invoice {{ invoice.number }} of {{ invoice.issue_date }}:
{% for line in invoice.lines %}- {{ line.description }}: {{ line.quantity }} × {{ line.unit_price }} = {{ line.net }} (+{{ line.tax_rate }} % tax)
{% endfor %}
Total: {{ invoice.gross }} {{ invoice.currency }} (net {{ invoice.net }}, tax {{ invoice.tax }}), due {{ invoice.due_date }}.

{{ sender.name }}"""

DEFAULT_OFFER_DOCUMENT = """<html><body>
<h1>Offer for {{ recipient.name }}</h1>
<p>{{ sender.name }}<br>{{ sender.email }}</p>
<table>
<tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Tax</th><th>Net</th></tr>
{% for line in offer.lines %}<tr><td>{{ line.description }}</td><td>{{ line.quantity }}</td>
<td>{{ line.unit_price }}</td><td>{{ line.tax_rate }} %</td><td>{{ line.net }}</td></tr>
{% endfor %}</table>
<p><strong>Total {{ offer.gross }} {{ offer.currency }}</strong> (net {{ offer.net }}, tax {{ offer.tax }})</p>
<p>Valid until {{ offer.valid_until }}.</p>
</body></html>"""
DEFAULT_OFFER_SUBJECT = "Our offer for {{ recipient.name }}"
DEFAULT_OFFER_TEXT = """Hello {{ recipient.name }},

our offer: {{ offer.gross }} {{ offer.currency }} in total (net {{ offer.net }}, tax {{ offer.tax }}),
{% for line in offer.lines %}- {{ line.description }}: {{ line.quantity }} × {{ line.unit_price }}
{% endfor %}valid until {{ offer.valid_until }}.

{{ sender.name }}"""


@dataclass(frozen=True)
class Sources:
    document: str
    subject: str
    text: str


def sources(config: Any, campaign: CampaignInfo, document: str, subject: str,
            text: str) -> Sources:
    """The action's own templates, else the campaign's DOCUMENT template (for the
    document), else the built-in ones."""
    template = campaign.template
    campaign_document = (template.html or template.text) if (
        template and template.kind == "DOCUMENT") else None
    return Sources(config.document or campaign_document or document,
                   config.subject or subject, config.text or text)


def check_templates(config: Any, templates: Any) -> list[tuple[tuple[str, ...], str]]:
    problems = []
    for field, html in (("document", True), ("subject", False), ("text", False)):
        source = getattr(config, field)
        if source is None:
            continue
        try:
            templates.check(source, html=html)
        except TemplateProblem as exc:
            problems.append(((field,), str(exc)))
    if config.subject is not None and not is_header_safe(config.subject):
        problems.append((("subject",), "A subject is one line."))
    return problems


def recipient(target: Target) -> dict[str, Any]:
    """``recipient``: who the document is for (the company, or the person)."""
    if target.kind == "company":
        company = target.data.get("company", {})
        return {"name": str(company.get("name") or ""), "email": target.address or "",
                "vat_id": company.get("vat_id") or ""}
    contact = target.data.get("contact", {})
    name = " ".join(str(p) for p in (contact.get("first_name"), contact.get("last_name")) if p)
    return {"name": name, "email": target.address or "", "vat_id": ""}


def lines_context(totals: Totals) -> list[dict]:
    return [{"description": line["description"], "quantity": line["quantity"],
             "unit_price": money_text(line["unitPriceCents"]), "tax_rate": line["taxRate"],
             "net": money_text(line["netCents"]), "tax": money_text(line["taxCents"])}
            for line in totals.lines]


def amounts_context(totals: Totals, currency: str) -> dict[str, Any]:
    return {"currency": currency, "net": money_text(totals.net_cents),
            "tax": money_text(totals.tax_cents), "gross": money_text(totals.gross_cents)}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(ctx: ActionContext, target: Target, src: Sources, extra: dict) -> Rendered:
    """Render the three templates for ``target`` (raises ``TemplateProblem``)."""
    context = {**ctx.render_context(target), "recipient": recipient(target), **extra}
    return Rendered(ctx.templates.render(src.subject, context).strip(),
                    ctx.templates.render(src.text, context),
                    ctx.templates.render(src.document, context, html=True))


def unsendable(target: Target, rendered: Rendered) -> str | None:
    """Why ``target`` cannot be emailed (``None`` when it can)."""
    if not target.address:
        return "no address"
    if not all(is_header_safe(v) for v in (rendered.subject, recipient(target)["name"],
                                           target.address)):
        return "unsafe header value (control or line-break characters)"
    return None


async def send(ctx: ActionContext, mails: Sequence[tuple[Target, Rendered]]
               ) -> dict[int, SendResult]:
    """Email each document (its HTML as the HTML body) with the delivery's deterministic
    Message-ID; a hard bounce puts the address on the suppression list. Returns the
    result per delivery id; a message that cannot be built fails with its reason."""
    results: dict[int, SendResult] = {}
    envelopes = []
    for target, rendered in mails:
        message_id = message_id_for(target.key, ctx.settings)
        sender = ctx.sender_for(target)
        try:
            data = build_message(sender=sender, to_name=recipient(target)["name"],
                                 to_address=target.address, subject=rendered.subject,
                                 text=rendered.text, html=rendered.html, message_id=message_id)
        except (ValueError, UnicodeError) as exc:
            results[target.delivery_id] = SendResult(Outcome.failed(target, f"message: {exc}"))
            continue
        envelopes.append(Envelope(target=target, sender=sender.email, recipient=target.address,
                                  message_id=message_id, data=data))
    if envelopes:
        transport = transport_for(ctx.settings.smtp_url, ctx.settings.smtp_connections)
        addresses = {e.target.delivery_id: e.recipient for e in envelopes}
        for result in await transport.send(envelopes):
            results[result.outcome.delivery_id] = result
            if result.hard_bounce and ctx.suppression:
                await ctx.suppression.add(addresses[result.outcome.delivery_id], "HARD_BOUNCE",
                                          result.outcome.error or "")
    return results


async def suppressed(ctx: ActionContext, batch: Sequence[Target]) -> dict[str, str]:
    if not ctx.suppression:
        return {}
    return await ctx.suppression.suppressed(t.address for t in batch if t.address)
