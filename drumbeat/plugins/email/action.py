"""The email action type: config model, rendering, and the batch send."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from drumbeat import (
    ActionContext,
    ActionType,
    CampaignInfo,
    EmailTracking,
    MESSAGE,
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
from drumbeat.plugins.email import winner as ab
from drumbeat.plugins.email.variants import (
    AbTest, Variant, by_weight, check_variants, in_test_group,
)

#: What a waiting recipient of an A/B test's rest shows as its delivery's last error.
WAITING = "A/B test: waiting for the winner"


class EmailConfig(BaseModel):
    """An email: Jinja2 templates for the subject and the bodies (rendered in a sandbox).

    Leave ``subject`` and/or the bodies out to use the campaign's EMAIL template for them.
    With ``variants`` each recipient gets one of them (see ``drumbeat.plugins.email.variants``).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Subject template (default: the campaign template's)")
    text: str | None = Field(default=None, min_length=1, max_length=100_000,
                             description="Plain-text body template (default: the campaign "
                                         "template's text and html)")
    html: str | None = Field(default=None, max_length=500_000,
                             description="HTML body template (only with text)")
    variants: list[Variant] | None = Field(default=None, min_length=2, max_length=10,
                                           description=(
        "2–10 variants of the message, sent by weight; what a variant leaves out comes from "
        "the fields above"))
    ab_test: AbTest | None = Field(default=None, alias="abTest", description=(
        "Test the variants on testShare % of the recipients, then send the winner to the rest"))


@dataclass(frozen=True)
class EmailSources:
    subject: str
    text: str
    html: str | None


def email_sources(config: EmailConfig, campaign: CampaignInfo,
                  variant: Variant | None = None) -> EmailSources | None:
    """What to render: the variant's subject and bodies, else the action's own, else the
    campaign's EMAIL template's (the subject and the bodies each fall back on their own)."""
    template = campaign.template if campaign.template and campaign.template.kind == "EMAIL" else None
    subject = (variant and variant.subject) or config.subject or (
        template.subject if template else "")
    if variant is not None and variant.text:
        text, html = variant.text, variant.html
    elif config.text:
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
    delivery_kind = MESSAGE

    def check_config(self, config: EmailConfig, templates) -> list[tuple[tuple[str, ...], str]]:
        problems = _check_message(config, templates, ())
        if config.html is not None and config.text is None:
            problems.append((("text",), "Give a text body with the html one."))
        if config.variants is not None:
            problems += check_variants(config.variants)
            for i, variant in enumerate(config.variants):
                problems += _check_message(variant, templates, ("variants", str(i)))
        elif config.ab_test is not None:
            problems.append((("abTest",), "An A/B test needs variants."))
        return problems

    def check_launch(self, config: EmailConfig, campaign: CampaignInfo
                     ) -> list[tuple[tuple[str, ...], str]]:
        problems = []
        for i, variant in enumerate(config.variants or [None]):
            if email_sources(config, campaign, variant) is not None:
                continue
            prefix = ("variants", str(i)) if variant is not None else ()
            missing = [f for f in ("subject", "text")
                       if not getattr(config, f) and not getattr(variant, f, None)]
            problems += [((*prefix, field), f"No {field}: give one in the action or choose an "
                                            "EMAIL template for the campaign.")
                         for field in missing]
        return problems

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
        chosen, waiting = await self._variants(ctx, sendable)
        outcomes += waiting
        sendable = [t for t in sendable if t.delivery_id in chosen] if waiting else sendable
        rendered, envelopes, links = await asyncio.to_thread(self._render_all, ctx, sendable,
                                                             chosen)
        await save_tracked_links(links)  # before sending: a click may come at once
        transport = transport_for(ctx.settings.smtp_url, ctx.settings.smtp_connections)
        results = await transport.send(envelopes, ctx.progress)
        recipients = {e.target.delivery_id: e.recipient for e in envelopes}
        for result in results:
            if result.hard_bounce and suppression:
                await suppression.add(recipients[result.outcome.delivery_id], "HARD_BOUNCE",
                                      result.outcome.error or "")
        return outcomes + rendered + [r.outcome for r in results]

    async def _variants(self, ctx: ActionContext, batch: Sequence[Target]
                        ) -> tuple[dict[int, Variant], list[Outcome]]:
        """Each target's variant ({delivery id: Variant}), recorded on its delivery before
        it is sent; with an A/B test, the rest wait (a retry that is not counted) until the
        decision time, then all get the winner."""
        config: EmailConfig = ctx.config
        if not config.variants or not batch:
            return {}, []
        test, db = config.ab_test, ctx.db
        chosen: dict[int, Variant] = {}
        waiting: list[Outcome] = []
        rest = [t for t in batch if test and db is not None and not t.test
                and not in_test_group(t.key, test.test_share)]
        waits = {id(t) for t in rest}
        for target in batch:
            if id(target) not in waits:
                chosen[target.delivery_id] = by_weight(target.key, config.variants)
        if test is not None and db is not None and any(not t.test for t in batch):
            found = await ab.decision(db, ctx.step_id, test)
            now = time.time()
            if rest and now < found.decide_at:
                waiting = [Outcome.retry(t, WAITING, after=found.decide_at - now, counts=False)
                           for t in rest]
            elif rest:
                name = found.winner or await ab.decide(db, ctx.campaign.id, ctx.step_id, test,
                                                       config.variants)
                best = next((v for v in config.variants if v.name == name), None)
                for target in rest:
                    chosen[target.delivery_id] = best or by_weight(target.key, config.variants)
        recorded = [(i, v.name) for i, v in chosen.items() if i]
        if recorded and db is not None:
            cases = " ".join("WHEN {} THEN {}" for _ in recorded)
            await db.execute(
                f"UPDATE drumbeat_delivery SET variant = CASE id {cases} END"
                f" WHERE id IN ({', '.join('{}' for _ in recorded)})",
                *(x for pair in recorded for x in pair), *(i for i, _ in recorded))
        return chosen, waiting

    def _render_all(self, ctx: ActionContext, batch: Sequence[Target],
                    chosen: dict[int, Variant] | None = None):
        """Render and build every message (CPU work, run off the event loop)."""
        chosen = chosen or {}
        sources_of: dict[str | None, EmailSources | None] = {}
        tracking = EmailTracking(ctx.settings)
        outcomes: list[Outcome] = []
        envelopes: list[Envelope] = []
        links: dict[int, list[str]] = {}
        for target in batch:
            variant = chosen.get(target.delivery_id)
            name = variant.name if variant else None
            if name not in sources_of:
                sources_of[name] = email_sources(ctx.config, ctx.campaign, variant)
            sources = sources_of[name]
            if sources is None:
                outcomes.append(Outcome.failed(target, "nothing to send: no subject or text"))
                continue
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
        variants = ctx.config.variants
        sources = email_sources(ctx.config, ctx.campaign,
                                by_weight(target.key, variants) if variants else None)
        if sources is None:
            return None
        subject, text, html = self._render(ctx, sources, target)
        return {"subject": subject, "text": text, **({"html": html} if html is not None else {})}


def _check_message(source, templates, prefix: tuple[str, ...]
                   ) -> list[tuple[tuple[str, ...], str]]:
    """The templates of an action or a variant compile; its subject is one line."""
    problems = []
    for field, html in (("subject", False), ("text", False), ("html", True)):
        text = getattr(source, field)
        if text is None:
            continue
        try:
            templates.check(text, html=html)
        except TemplateProblem as exc:
            problems.append(((*prefix, field), str(exc)))
    if source.subject is not None and not is_header_safe(source.subject):
        problems.append(((*prefix, "subject"), "A subject is one line."))
    return problems


def _display_name(target: Target) -> str:
    """The recipient's name for the To header: the person's, or the company's."""
    if target.kind == "company":
        return str(target.data.get("company", {}).get("name") or "")
    contact = target.data.get("contact", {})
    return " ".join(str(p) for p in (contact.get("first_name"), contact.get("last_name")) if p)


class UnsendableError(Exception):
    """This target cannot get this message (a permanent failure of its delivery)."""
