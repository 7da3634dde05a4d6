"""The email action type: config model, rendering, and the batch send."""

from __future__ import annotations

import asyncio
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from drumbeat import ActionContext, ActionType, Outcome, Target, TemplateProblem, is_header_safe
from drumbeat.plugins.email.message import build_message, message_id_for
from drumbeat.plugins.email.transport import Envelope, transport_for


class EmailConfig(BaseModel):
    """An email: Jinja2 templates for the subject and the bodies (rendered in a sandbox)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=998, description="Subject template")
    text: str = Field(min_length=1, max_length=100_000, description="Plain-text body template")
    html: str | None = Field(default=None, max_length=500_000, description="HTML body template")


class EmailAction(ActionType):
    key = "email"
    label = "Email"
    Config = EmailConfig
    recipient_kinds = ("contact", "company")
    needs_address = True

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
        if "\n" in config.subject or "\r" in config.subject:
            problems.append((("subject",), "A subject is one line."))
        return problems

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        outcomes, envelopes = await asyncio.to_thread(self._render_all, ctx, batch)
        transport = transport_for(ctx.settings.smtp_url, ctx.settings.smtp_connections)
        return outcomes + await transport.send(envelopes)

    def _render_all(self, ctx: ActionContext, batch: Sequence[Target]):
        """Render and build every message (CPU work, run off the event loop)."""
        outcomes: list[Outcome] = []
        envelopes: list[Envelope] = []
        config: EmailConfig = ctx.config
        for target in batch:
            try:
                envelopes.append(self._envelope(ctx, config, target))
            except UnsendableError as exc:
                outcomes.append(Outcome.failed(target, str(exc)))
        return outcomes, envelopes

    def _envelope(self, ctx: ActionContext, config: EmailConfig, target: Target) -> Envelope:
        context = {**target.data, "campaign": {"name": ctx.campaign.name},
                   "sender": {"name": ctx.sender.name, "email": ctx.sender.email}}
        try:
            subject = ctx.templates.render(config.subject, context).strip()
            text = ctx.templates.render(config.text, context)
            html = ctx.templates.render(config.html, context, html=True) if config.html else None
        except TemplateProblem as exc:
            raise UnsendableError(f"template: {exc}") from None
        contact = target.data.get("contact", {})
        to_name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        if not target.address:
            raise UnsendableError("no address")
        if not all(is_header_safe(v) for v in (subject, to_name, target.address)):
            raise UnsendableError("unsafe header value (control or line-break characters)")
        message_id = message_id_for(target.key, ctx.settings)
        try:
            data = build_message(
                sender=ctx.sender, to_name=to_name, to_address=target.address,
                subject=subject, text=text, html=html, message_id=message_id,
            )
        except (ValueError, UnicodeError) as exc:  # e.g. an address the email package rejects
            raise UnsendableError(f"message: {exc}") from None
        return Envelope(target=target, sender=ctx.sender.email, recipient=target.address,
                        message_id=message_id, data=data)


class UnsendableError(Exception):
    """This target cannot get this message (a permanent failure of its delivery)."""
