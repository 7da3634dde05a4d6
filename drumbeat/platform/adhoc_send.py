"""Ad-hoc manual send (``campaignSendNow``): email chosen recipients of a launched campaign
now, outside its workflow — through the same ledger, worker and tracking as a launch.

Each send makes an *ad-hoc step*: an ``email`` workflow action flagged ``adhoc`` in the
campaign's "Ad-hoc" state (never a start state, so launch and resume ignore it). Its
deliveries are resolved with the launch's dispatch rules (unsubscribed, bounced,
suppressed, no consent, duplicates → skipped with their reason), written to the ledger and
enqueued; the worker runs them like any step, also while the campaign is PAUSED or
COMPLETED (``ledger.claim``). A COMPLETED campaign stays COMPLETED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from pydantic import ValidationError

from drumbeat.platform import audit, ledger
from drumbeat.platform.audience import resolve_audience
from drumbeat.platform.campaign_info import launch_problems, load_campaign_info
from drumbeat.platform.campaigns import get_campaign
from drumbeat.platform.dispatch import reasons_count
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor, require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import (
    CampaignState, Template, TemplateKind, WorkflowAction, WorkflowState,
)
from drumbeat.platform.team import Member

log = logging.getLogger(__name__)
S = CampaignState

ACTION_TYPE = "email"
STATE_NAME = "Ad-hoc"
#: A send needs a launched campaign that is not over for good.
SENDABLE = (S.RUNNING, S.PAUSED, S.COMPLETED)
MAX_RECIPIENTS = 10_000
ID_FIELDS = {"contact": "contactIds", "company": "companyIds", "lead": "leadIds"}


@dataclass(frozen=True)
class AdhocEmail:
    """What to send: the subject and bodies (Jinja2, like an email step's config), or an
    EMAIL template's; left out, the campaign's EMAIL template's."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: int | None = None


@dataclass(frozen=True)
class SendNowResult:
    step_id: int
    queued: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason → targets


async def send_now(platform: Platform, member: Member | None, campaign_id: int,
                   ids: Mapping[str, Sequence[int]], email: AdhocEmail) -> SendNowResult:
    """Email the chosen recipients (contact, company and lead ids, each a recipient of the
    campaign) now. Refused for a campaign not launched yet or CANCELLED, or with
    ``sendEmails`` off."""
    require_member(member)
    campaign = await get_campaign(campaign_id)
    if campaign is None:
        raise DomainError.one("No such campaign.", ErrorCode.NOT_FOUND, ["input", "campaignId"])
    require_campaign_editor(member, campaign)
    problems = Problems()
    state = S(campaign["state"])
    if state not in SENDABLE:
        problems.add(f"A {state.value} campaign cannot send: an ad-hoc send needs a launched "
                     "campaign (RUNNING, PAUSED or COMPLETED).", ErrorCode.INVALID_STATE,
                     "input", "campaignId")
    elif not campaign["send_emails"]:
        problems.add("This campaign's sendEmails is off: it sends no email.",
                     ErrorCode.INVALID_STATE, "input", "campaignId")
    config = await _config(platform, problems, campaign_id, email)
    recipient_ids = await _recipients(platform, problems, campaign_id, ids)
    problems.raise_if_any()

    action_type = platform.plugins.action_type(ACTION_TYPE)
    rows = await resolve_audience(platform.db, campaign, action_type.needs_address,
                                  only=recipient_ids)
    settings = platform.settings
    async with platform.db.transaction():
        # Takes the campaign's row lock (PostgreSQL) and re-checks its state: a concurrent
        # cancel then either comes first (refused here) or skips these rows itself.
        held = await platform.db.fetch(
            f"UPDATE drumbeat_campaign SET state = state WHERE id = {{}}"
            f" AND state IN ({', '.join('{}' for _ in SENDABLE)}) RETURNING id",
            campaign_id, *(s.value for s in SENDABLE))
        if not held:
            raise DomainError.one("The campaign's state changed meanwhile; reload and try "
                                  "again.", ErrorCode.INVALID_STATE, ["input", "campaignId"])
        step_id = await _new_step(campaign_id, config)
        skipped = await ledger.snapshot(platform.db, campaign_id, step_id, rows,
                                        settings.redeliver_after_seconds)
        chunks = await ledger.pending_chunks(platform.db, campaign_id, step_id,
                                             settings.chunk_size)
        result = SendNowResult(step_id, sum(1 for r in rows if not r.skip_reason),
                               dict(reasons_count(rows)))
        await audit.record(member, campaign_id, "campaign.send_now", [
            audit.Change("step", None, step_id),
            audit.Change("recipients", None, len(recipient_ids)),
            audit.Change("queued", None, result.queued),
            audit.Change("skipped", None, result.skipped),
            audit.Change("subject", None, config.get("subject")),
        ])
    try:
        await platform.dispatch(chunks)
    except Exception:  # the rows are safe in the ledger: the reconciler sends them later
        log.exception("enqueueing ad-hoc send of campaign %s failed", campaign_id)
    await ledger.announce(platform.db, platform.publish, skipped)
    await platform.publish(campaign_id, {"type": "progress", "step": step_id})
    return result


async def _config(platform: Platform, problems: Problems, campaign_id: int,
                  email: AdhocEmail) -> dict:
    """The ad-hoc step's email config, checked like an email step's (syntax errors with
    their line, a subject on one line) and like a launch (something to send)."""
    action_type = platform.plugins.action_types.get(ACTION_TYPE)
    if action_type is None:
        problems.add("The email action is not installed.", ErrorCode.UNKNOWN_ACTION_TYPE,
                     "input")
        return {}
    raw = {k: v for k, v in (("subject", email.subject), ("text", email.text),
                             ("html", email.html)) if v is not None}
    if email.template_id is not None:
        if raw:
            problems.add("Give either a template or a subject and bodies, not both.",
                         ErrorCode.INVALID, "input", "templateId")
            return {}
        template = await Template.select().where(Template.id == email.template_id).first()
        if template is None or template["kind"] != TemplateKind.EMAIL.value:
            problems.add("No such EMAIL template.", ErrorCode.NOT_FOUND, "input", "templateId")
            return {}
        raw = {"subject": template["subject"], "text": template["text"],
               **({"html": template["html"]} if template["html"] else {})}
    try:
        config = action_type.parse_config(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.add(error["msg"], ErrorCode.INVALID_CONFIG, "input",
                         *(str(part) for part in error["loc"]))
        return {}
    found = action_type.check_config(config, platform.templates)
    for path, message in found:
        problems.add(message, ErrorCode.TEMPLATE_ERROR, "input", *path)
    info = await load_campaign_info(platform, campaign_id)
    if not found and info is not None:
        for path, message in await launch_problems(platform, action_type, config, info):
            problems.add(message, ErrorCode.REQUIRED, "input", *path)
    return config.model_dump(exclude_none=True)


async def _recipients(platform: Platform, problems: Problems, campaign_id: int,
                      ids: Mapping[str, Sequence[int]]) -> list[int]:
    """The campaign recipient ids of the chosen contacts, companies and leads (each one
    not in the campaign's audience reported with its index)."""
    total = sum(len(v) for v in ids.values())
    if total == 0:
        problems.add("Choose at least one recipient.", ErrorCode.NO_RECIPIENTS, "input")
        return []
    if total > MAX_RECIPIENTS:
        problems.add(f"At most {MAX_RECIPIENTS} recipients per send.", ErrorCode.TOO_LONG,
                     "input")
        return []
    result: list[int] = []
    for kind, values in ids.items():
        unique = list(dict.fromkeys(values))
        if not unique:
            continue
        marks = ", ".join("{}" for _ in unique)
        found = {r[kind]: r["id"] for r in await platform.db.fetch(
            f"SELECT id, {kind} FROM drumbeat_campaign_recipient"
            f" WHERE campaign = {{}} AND kind = {{}} AND {kind} IN ({marks})",
            campaign_id, kind, *unique)}
        for index, value in enumerate(values):
            if value not in found:
                problems.add(f"The {kind} {value} is not a recipient of this campaign.",
                             ErrorCode.NOT_FOUND, "input", ID_FIELDS[kind], index)
        result += [found[v] for v in unique if v in found]
    return sorted(set(result))


async def _new_step(campaign_id: int, config: dict) -> int:
    """A new ad-hoc email step in the campaign's "Ad-hoc" state (made on first use)."""
    state = await WorkflowState.select(WorkflowState.id).where(
        WorkflowState.campaign == campaign_id, WorkflowState.name == STATE_NAME,
        WorkflowState.is_start == False).first()  # noqa: E712
    if state is None:
        last = await WorkflowState.select(WorkflowState.position).where(
            WorkflowState.campaign == campaign_id).order_by(
            WorkflowState.position, ascending=False).first()
        state = (await WorkflowState.insert(WorkflowState(
            campaign=campaign_id, name=STATE_NAME, is_start=False,
            position=(last["position"] + 1) if last else 0,
        )).returning(WorkflowState.id))[0]
    last = await WorkflowAction.select(WorkflowAction.position).where(
        WorkflowAction.state == state["id"]).order_by(
        WorkflowAction.position, ascending=False).first()
    step = (await WorkflowAction.insert(WorkflowAction(
        campaign=campaign_id, state=state["id"], action_type=ACTION_TYPE, config=config,
        position=(last["position"] + 1) if last else 0, adhoc=True,
    )).returning(WorkflowAction.id))[0]
    return step["id"]
