"""Templates as first-class objects: emails, phone-call scripts, documents.

Marketers and admins create them; only a template's owner or an admin changes or deletes
it; every signed-in member reads them. Each kind has its parts: an EMAIL a one-line
subject and a text body (html optional), a CALL_SCRIPT a text, a DOCUMENT an html body
(text optional). Every part must compile in the sandbox; all problems are reported at
once, syntax errors with their line.

A template used by a running or paused campaign cannot be deleted nor change its kind
(its content may change: messages not yet sent use the new version). Deleting one that
other campaigns use clears their template, with an entry in each one's audit log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Mapping

from drumbeat.platform import audit
from drumbeat.platform.campaign_info import load_campaign_info
from drumbeat.platform.personalisation import target_data, target_sender
from drumbeat.platform.errors import DomainError, ErrorCode, Problem, Problems, unique_violation_as
from drumbeat.platform.permissions import require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import (
    Campaign,
    CampaignState,
    Role,
    TeamMember,
    Template,
    TemplateKind,
)
from drumbeat.platform.team import Member, now
from drumbeat.platform.templating import MAX_SOURCE_CHARS, TemplateProblem
from drumbeat.platform.validation import check_text, is_header_safe

PARTS = ("subject", "text", "html")
MAX_SUBJECT_CHARS = 998
#: Per kind: the parts it needs, and those it may have.
REQUIRED = {TemplateKind.EMAIL: ("subject", "text"), TemplateKind.CALL_SCRIPT: ("text",),
            TemplateKind.DOCUMENT: ("html",)}
ALLOWED = {TemplateKind.EMAIL: PARTS, TemplateKind.CALL_SCRIPT: ("text",),
           TemplateKind.DOCUMENT: ("text", "html")}
ACTIVE = (CampaignState.RUNNING.value, CampaignState.PAUSED.value)


async def get_template(member: Member | None, template_id: int) -> dict | None:
    require_member(member)
    return await Template.select().where(Template.id == template_id).first()


async def require_template(member: Member | None, template_id: int, field: str = "id") -> dict:
    template = await get_template(member, template_id)
    if template is None:
        raise DomainError.one("No such template.", ErrorCode.NOT_FOUND, [field])
    return template


async def require_template_for_campaign(problems: Problems, template_id: int | None,
                                        *field: str) -> dict | None:
    """The template a campaign is to use (any kind), or ``None`` with NOT_FOUND reported."""
    if template_id is None:
        return None
    template = await Template.select().where(Template.id == template_id).first()
    if template is None:
        problems.add("No such template.", ErrorCode.NOT_FOUND, *field)
    return template


def _require_editor(member: Member | None, template: Mapping) -> Member:
    member = require_member(member)
    if not (member.is_admin or template["owner"] == member.id):
        raise DomainError.one("Only the template's owner or an admin may do this.",
                              ErrorCode.FORBIDDEN)
    return member


async def _check(platform: Platform, problems: Problems, values: Mapping[str, Any],
                 except_id: int | None) -> dict[str, Any]:
    """Validate a whole template (name, kind and parts); return the column values."""
    name = (values.get("name") or "").strip()
    check_text(problems, name, 200, "input", "name", required=True, single_line=True)
    if name and await platform.db.name_taken("drumbeat_template", name, except_id):
        problems.add(f"A template named {name!r} exists.", ErrorCode.DUPLICATE, "input", "name")
    kind = TemplateKind(values["kind"])
    parts = {part: values.get(part) or "" for part in PARTS}
    compile_now: list[str] = []
    for part, source in parts.items():
        if not source.strip():
            if part in REQUIRED[kind]:
                problems.add(f"A {kind.value} template needs a {part}.", ErrorCode.REQUIRED,
                             "input", part)
            continue
        if part not in ALLOWED[kind]:
            problems.add(f"A {kind.value} template has no {part}.", ErrorCode.INVALID,
                         "input", part)
            continue
        limit = MAX_SUBJECT_CHARS if part == "subject" else MAX_SOURCE_CHARS
        if len(source) > limit:
            problems.add(f"At most {limit} characters.", ErrorCode.TOO_LONG, "input", part)
            continue
        if part == "subject" and not is_header_safe(source):
            problems.add("A subject is one line, without control characters.",
                         ErrorCode.INVALID, "input", part)
            continue
        compile_now.append(part)
    # Compiling is CPU work in proportion to the source (up to MAX_SOURCE_CHARS): off the loop.
    for part, problem in await asyncio.to_thread(_compile_problems, platform, parts, compile_now):
        problems.add(problem, ErrorCode.TEMPLATE_ERROR, "input", part)
    return {"name": name, "kind": kind.value, **parts}


def _compile_problems(platform: Platform, parts: Mapping[str, str],
                      names: list[str]) -> list[tuple[str, str]]:
    """(part, problem) for each of ``names`` that does not compile."""
    found = []
    for part in names:
        try:
            platform.templates.check(parts[part], html=part == "html")
        except TemplateProblem as exc:
            found.append((part, str(exc)))
    return found


async def create_template(platform: Platform, member: Member | None,
                          fields: Mapping[str, Any]) -> dict:
    """Create a template owned by ``member`` (a marketer or an admin)."""
    member = require_member(member)
    if member.role not in (Role.ADMIN, Role.MARKETER):
        raise DomainError.one("Only marketers and admins create templates.", ErrorCode.FORBIDDEN)
    problems = Problems()
    values = await _check(platform, problems, fields, None)
    problems.raise_if_any()
    stamp = now()
    async with _unique_name_guard(values["name"]):
        row = (await Template.insert(Template(
            **values, owner=member.id, created_at=stamp, updated_at=stamp,
        )).returning(Template.id))[0]
    return await Template.select().where(Template.id == row["id"]).first()


async def update_template(platform: Platform, member: Member | None, template_id: int,
                          fields: Mapping[str, Any]) -> dict:
    """Change the given fields (``None`` clears a part); the result must be a valid template."""
    template = await require_template(member, template_id)
    _require_editor(member, template)
    problems = Problems()
    merged = {**template, **{k: v for k, v in fields.items() if k in ("name", "kind", *PARTS)}}
    values = await _check(platform, problems, merged, template_id)
    if values["kind"] != template["kind"]:
        used = await _active_campaigns(template_id)
        if used:
            problems.add(f"The kind cannot change while {_names(used)} use it.",
                         ErrorCode.INVALID_STATE, "input", "kind")
    problems.raise_if_any()
    changed = {k: v for k, v in values.items() if template[k] != v}
    if not changed:
        return template
    async with _unique_name_guard(values["name"]):
        await Template.update({**{getattr(Template, k): v for k, v in changed.items()},
                               Template.updated_at: now()}).where(Template.id == template_id)
    return await Template.select().where(Template.id == template_id).first()


async def delete_template(platform: Platform, member: Member | None, template_id: int) -> None:
    """Delete a template no running or paused campaign uses; campaigns that used it lose
    their template (each gets an audit entry)."""
    template = await require_template(member, template_id)
    member = _require_editor(member, template)
    active = await _active_campaigns(template_id)
    if active:
        raise DomainError.one(f"{_names(active).capitalize()} use this template; it can be "
                              "deleted once they are over.", ErrorCode.INVALID_STATE, ["id"])
    async with platform.db.transaction():
        users = await Campaign.select(Campaign.id, Campaign.state).where(
            Campaign.template == template_id)
        if any(c["state"] in ACTIVE for c in users):
            raise DomainError.one("A campaign using this template was launched meanwhile.",
                                  ErrorCode.INVALID_STATE, ["id"])
        stamp = now()
        for campaign in users:
            await Campaign.update({Campaign.template: None, Campaign.updated_at: stamp}).where(
                Campaign.id == campaign["id"])
            await audit.record(member, campaign["id"], "template.delete",
                               [audit.Change("template", template["name"], None)])
        await Template.delete().where(Template.id == template_id)


async def _active_campaigns(template_id: int) -> list[str]:
    rows = await Campaign.select(Campaign.name).where(
        Campaign.template == template_id, Campaign.state.is_in(list(ACTIVE)))
    return [r["name"] for r in rows]


def _names(campaigns: list[str]) -> str:
    shown = ", ".join(repr(n) for n in campaigns[:3])
    more = f" and {len(campaigns) - 3} more" if len(campaigns) > 3 else ""
    return f"the campaign{'s' if len(campaigns) > 1 else ''} {shown}{more}"


def _unique_name_guard(name: str):
    return unique_violation_as("drumbeat_template_name_ci", f"A template named {name!r} exists.",
                               "input", "name")


@dataclass(frozen=True)
class Preview:
    subject: str | None
    text: str | None
    html: str | None
    errors: list[Problem]


async def preview_template(platform: Platform, member: Member | None, template_id: int,
                           contact_id: int, campaign_id: int | None = None) -> Preview:
    """Render a template for one contact with the context a real send uses: the contact,
    their company, and the campaign with its sender (without a campaign: an empty campaign
    and the template's owner as the sender). A part that fails has its error instead."""
    template = await require_template(member, template_id, "templateId")
    problems = Problems()
    data = (await target_data(platform.db, [("contact", contact_id)])).get(("contact", contact_id))
    if data is None:
        problems.add("No such contact.", ErrorCode.NOT_FOUND, "contactId")
    campaign = None
    if campaign_id is not None:
        campaign = await load_campaign_info(platform, campaign_id)
        if campaign is None:
            problems.add("No such campaign.", ErrorCode.NOT_FOUND, "campaignId")
    problems.raise_if_any()
    context = {**data, **(campaign.context(target_sender(campaign, data)) if campaign
                          else await _no_campaign(template))}
    rendered = await asyncio.to_thread(_render_parts, platform, template, context, problems)
    return Preview(**rendered, errors=problems.items)


def _render_parts(platform: Platform, template: Mapping, context: dict,
                  problems: Problems) -> dict[str, str | None]:
    """Each part rendered (``None`` when empty or failing, with its problem reported)."""
    rendered: dict[str, str | None] = dict.fromkeys(PARTS)
    for part in PARTS:
        if not template[part]:
            continue
        try:
            rendered[part] = platform.templates.render(template[part], context,
                                                       html=part == "html")
        except TemplateProblem as exc:
            problems.add(str(exc), ErrorCode.TEMPLATE_ERROR, part)
    if rendered["subject"] is not None:
        rendered["subject"] = rendered["subject"].strip()
        if not is_header_safe(rendered["subject"]):
            problems.add("For this recipient the subject has a line break or a control "
                         "character: their message would fail.", ErrorCode.INVALID, "subject")
    return rendered


async def _no_campaign(template: Mapping) -> dict:
    """The campaign variables of a preview without a campaign: the owner sends."""
    row = await TeamMember.select(TeamMember.name, TeamMember.email).where(
        TeamMember.id == template["owner"]).first()
    owner = {"name": row["name"], "email": row["email"]}
    return {"campaign": {"id": None, "name": "", "owner": owner}, "sender": owner}
