"""The email action type: config model, rendering, and the batch send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from drumbeat import (
    ActionContext,
    ActionType,
    CampaignInfo,
    EmailTracking,
    Envelope,
    Outcome,
    Target,
    TemplateProblem,
    build_message,
    is_header_safe,
    message_id_for,
    save_tracked_links,
    transport_for,
)


class EmailConfig(BaseModel):
    """An email: Jinja2 templates for the subject and the bodies (rendered in a sandbox).

    Leave ``subject`` and/or the bodies out to use the campaign's EMAIL template for them.
    """

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Subject template (default: the campaign template's)")
    text: str | None = Field(default=None, min_length=1, max_length=100_000,
                             description="Plain-text body template (default: the campaign "
                                         "template's text and html)")
    html: str | None = Field(default=None, max_length=500_000,
                             description="HTML body template (only with text)")


@dataclass(frozen=True)
class EmailSources:
    subject: str
    text: str
    html: str | None


def email_sources(config: EmailConfig, campaign: CampaignInfo) -> EmailSources | None:
    """What to render: the action's own subject and bodies, or else the campaign's EMAIL
    template's (the subject and the bodies each fall back on their own)."""
    template = campaign.template if campaign.template and campaign.template.kind == "EMAIL" else None
    subject = config.subject or (template.subject if template else "")
    if config.text:
        text, html = config.text, config.html
    elif template:
        text, html = template.text, template.html or None
    else:
        text, html = "", None
    return EmailSources(subject, text, html) if subject and text else None


class EmailAction(ActionType):
    key = "email"
    label = "Email"
    Config = EmailConfig
    recipient_kinds = ("contact", "company")
    needs_address = True
    email_only = True  # with the campaign's sendEmails off, its deliveries are skipped
    produces = "email"

    def check_config(self, config: EmailConfig, templates) -> list[tuple[tuple[str, ...], str]]:
        problems = []
        for field, html in (("subject", False), ("text", False), ("html", True)):
            source = getattr(config, field)
            if source is None:
                continue
            try:
                templates.check(source, html=html)
            except TemplateProblem as exc:
                problems.append(((field,), str(exc)))
        if config.subject is not None and not is_header_safe(config.subject):
            problems.append((("subject",), "A subject is one line."))
        if config.html is not None and config.text is None:
            problems.append((("text",), "Give a text body with the html one."))
        return problems

    def check_launch(self, config: EmailConfig, campaign: CampaignInfo
                     ) -> list[tuple[tuple[str, ...], str]]:
        if email_sources(config, campaign) is not None:
            return []
        missing = [f for f in ("subject", "text") if not getattr(config, f)]
        return [((field,), f"No {field}: give one in the action or choose an EMAIL template "
                           "for the campaign.") for field in missing]

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        """Send the batch. An address suppressed since the launch fails with ``SUPPRESSED``
        without being sent; a hard bounce suppresses its address."""
        suppression = ctx.suppression
        blocked = await suppression.suppressed(
            t.address for t in batch if t.address) if suppression else {}
        outcomes, sendable = [], []
        for target in batch:
            reason = blocked.get((target.address or "").strip().lower())
            if reason:
                outcomes.append(Outcome.failed(
                    target, f"SUPPRESSED ({reason}): the address is on the suppression list"))
            else:
                sendable.append(target)
        rendered, envelopes, links = await asyncio.to_thread(self._render_all, ctx, sendable)
        await save_tracked_links(links)  # before sending: a click may come at once
        transport = transport_for(ctx.settings.smtp_url, ctx.settings.smtp_connections)
        results = await transport.send(envelopes)
        recipients = {e.target.delivery_id: e.recipient for e in envelopes}
        for result in results:
            if result.hard_bounce and suppression:
                await suppression.add(recipients[result.outcome.delivery_id], "HARD_BOUNCE",
                                      result.outcome.error or "")
        return outcomes + rendered + [r.outcome for r in results]

    def _render_all(self, ctx: ActionContext, batch: Sequence[Target]):
        """Render and build every message (CPU work, run off the event loop)."""
        sources = email_sources(ctx.config, ctx.campaign)
        if sources is None:
            return [Outcome.failed(t, "nothing to send: no subject or text") for t in batch], [], {}
        tracking = EmailTracking(ctx.settings)
        outcomes: list[Outcome] = []
        envelopes: list[Envelope] = []
        links: dict[int, list[str]] = {}
        for target in batch:
            try:
                envelopes.append(self._envelope(ctx, sources, target, tracking, links))
            except UnsendableError as exc:
                outcomes.append(Outcome.failed(target, str(exc)))
        return outcomes, envelopes, links

    def _envelope(self, ctx: ActionContext, sources: EmailSources, target: Target,
                  tracking: EmailTracking, links: dict[int, list[str]]) -> Envelope:
        """The target's message: click-tracked links in both bodies, an open pixel in the
        HTML one, List-Unsubscribe headers; its link URLs go into ``links``. A test target's has
        none of them (it has no delivery) and its subject starts with "[Test] "."""
        unsubscribe_url = None if target.test else tracking.unsubscribe_url(target.delivery_id)
        try:
            subject, text, html = self._render(ctx, sources, target, unsubscribe_url or "")
        except TemplateProblem as exc:
            raise UnsendableError(f"template: {exc}") from None
        if target.test:
            subject = f"[Test] {subject}"
        sender = ctx.sender_for(target)
        to_name = _display_name(target)
        if not target.address:
            raise UnsendableError("no address")
        if not all(is_header_safe(v) for v in (subject, to_name, target.address)):
            raise UnsendableError("unsafe header value (control or line-break characters)")
        if not target.test:
            urls: list[str] = []  # one link index per URL, shared by both bodies
            if html is not None:
                html, urls = tracking.rewrite_html(target.delivery_id, html, urls)
            text = tracking.rewrite_text(target.delivery_id, text, urls)
            if urls:
                links[target.delivery_id] = urls
        message_id = message_id_for(target.key, ctx.settings)
        try:
            data = build_message(
                sender=sender, to_name=to_name, to_address=target.address,
                subject=subject, text=text, html=html, message_id=message_id,
                unsubscribe_url=unsubscribe_url,
            )
        except (ValueError, UnicodeError) as exc:  # e.g. an address the email package rejects
            raise UnsendableError(f"message: {exc}") from None
        return Envelope(target=target, sender=sender.email, recipient=target.address,
                        message_id=message_id, data=data)

    @staticmethod
    def _render(ctx: ActionContext, sources: EmailSources, target: Target,
                unsubscribe_url: str = "") -> tuple[str, str, str | None]:
        """Subject and bodies; templates also see ``unsubscribe_url`` (the recipient's
        one-click unsubscribe page; empty in a test send or a dry run)."""
        context = {**ctx.render_context(target), "unsubscribe_url": unsubscribe_url}
        subject = ctx.templates.render(sources.subject, context).strip()
        text = ctx.templates.render(sources.text, context)
        html = ctx.templates.render(sources.html, context, html=True) if sources.html else None
        return subject, text, html

    def render_sample(self, ctx: ActionContext, target: Target) -> dict[str, str] | None:
        sources = email_sources(ctx.config, ctx.campaign)
        if sources is None:
            return None
        subject, text, html = self._render(ctx, sources, target)
        return {"subject": subject, "text": text, **({"html": html} if html is not None else {})}


def _display_name(target: Target) -> str:
    """The recipient's name for the To header: the person's, or the company's."""
    if target.kind == "company":
        return str(target.data.get("company", {}).get("name") or "")
    contact = target.data.get("contact", {})
    return " ".join(str(p) for p in (contact.get("first_name"), contact.get("last_name")) if p)


class UnsendableError(Exception):
    """This target cannot get this message (a permanent failure of its delivery)."""
