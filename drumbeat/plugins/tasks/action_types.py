"""The ``phone_call`` and ``activity`` action types: one task per target, written in the
transaction that marks its delivery done, announced to its assignee after commit."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from drumbeat import (
    ActionContext,
    ActionType,
    CampaignInfo,
    Outcome,
    Target,
    TemplateProblem,
)
from drumbeat.plugins.tasks import notify
from drumbeat.plugins.tasks.assignment import AssignmentProblem, assignees, resolve_members
from drumbeat.plugins.tasks.config import ActivityConfig, PhoneCallConfig
from drumbeat.plugins.tasks.tables import Task, TaskKind

TITLE_CHARS = 500

INSERT = """
INSERT INTO drumbeat_task
    (kind, campaign, step, delivery, target_kind, target_id, target_name, phone, title,
     activity_type, body, assignee, due_at, status, outcome, call_back_at, calls, notes,
     completed_at, completed_by, created_at, updated_at)
VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'OPEN', NULL, NULL, 0, '',
        NULL, NULL, {}, {})
ON CONFLICT (delivery) DO NOTHING
"""


def target_name(target: Target) -> str:
    contact, company = target.data.get("contact") or {}, target.data.get("company") or {}
    if target.kind != "company" and contact.get("full_name"):
        return str(contact["full_name"])[:300]
    return str(company.get("name") or "")[:300]


def target_phone(target: Target) -> str:
    contact, company = target.data.get("contact") or {}, target.data.get("company") or {}
    phone = contact.get("phone") if target.kind != "company" else None
    return str(phone or company.get("phone") or "")[:100]


class TaskAction(ActionType):
    """What both task actions share: assignment, due time, the insert, the announcement."""

    kind: TaskKind
    recipient_kinds = ("contact", "company", "lead")

    def check_config(self, config, templates) -> list[tuple[tuple[str, ...], str]]:
        problems = []
        for field in self.template_fields:
            source = getattr(config, field)
            if source is None:
                continue
            try:
                templates.check(source)
            except TemplateProblem as exc:
                problems.append(((field,), str(exc)))
        return problems

    template_fields: tuple[str, ...] = ()

    async def check_references(self, config, db) -> list[tuple[tuple[str, ...], str]]:
        """The named members are active team members now (``execute`` checks again: one
        may be deactivated after the launch)."""
        if not config.assignment.members:
            return []
        try:
            await resolve_members(config.assignment.members)
        except AssignmentProblem as exc:
            return [(("assignment", "members"),
                     str(exc).removeprefix("assignment.members: ").capitalize() + ".")]
        return []

    def render(self, ctx: ActionContext, target: Target, context: dict) -> tuple[str, str, str | None]:
        """(title, body, activity type) of ``target``'s task."""
        raise NotImplementedError

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        """Tasks are made whatever the campaign's ``sendEmails`` says: they send nothing."""
        if not batch:
            return []
        try:
            assigned = await assignees(ctx, ctx.config.assignment, batch)
        except AssignmentProblem as exc:
            return [Outcome.failed(t, str(exc)) for t in batch]
        created = datetime.now(timezone.utc)
        due = ctx.config.due_from(created)
        outcomes = []
        for target in batch:
            try:
                title, body, activity_type = self.render(ctx, target, ctx.render_context(target))
            except TemplateProblem as exc:
                outcomes.append(Outcome.failed(target, f"template: {exc}"))
                continue
            values = (self.kind.value, ctx.campaign.id, ctx.step_id, target.delivery_id,
                      target.kind, target.id, target_name(target), target_phone(target),
                      " ".join(title.split())[:TITLE_CHARS] or self.label, activity_type, body,
                      assigned[target.delivery_id], due, created, created)
            outcomes.append(Outcome.done(target, persist=_inserter(values)))
        return outcomes

    def render_sample(self, ctx: ActionContext, target: Target) -> dict[str, str]:
        """The task a target would get, for a dry run."""
        title, body, activity_type = self.render(ctx, target, ctx.render_context(target))
        sample = {"title": title, "body": body}
        return {**sample, "activityType": activity_type} if activity_type else sample

    async def after_record(self, ctx: ActionContext, done: Sequence[Target]) -> None:
        """Tell each assignee about their new tasks (committed by now)."""
        ids = [t.delivery_id for t in done]
        rows = await Task.select(Task.id, Task.assignee).where(Task.delivery.is_in(ids))
        await notify.announce(ctx.publish, rows, notify.ASSIGNED)


def _inserter(values: tuple[Any, ...]):
    async def persist(db) -> None:
        await db.execute(INSERT, *values)

    return persist


class PhoneCallAction(TaskAction):
    key = "phone_call"
    label = "Phone call"
    Config = PhoneCallConfig
    kind = TaskKind.CALL
    produces = "call task"
    template_fields = ("title", "script")

    def check_launch(self, config: PhoneCallConfig, campaign: CampaignInfo
                     ) -> list[tuple[tuple[str, ...], str]]:
        if config.script or _campaign_script(campaign):
            return []
        return [(("script",), "No call script: give one in the action or choose a "
                              "CALL_SCRIPT template for the campaign.")]

    def render(self, ctx, target, context):
        script = ctx.config.script or _campaign_script(ctx.campaign) or ""
        return (ctx.templates.render(ctx.config.title, context),
                ctx.templates.render(script, context), None)


def _campaign_script(campaign: CampaignInfo) -> str | None:
    template = campaign.template
    return template.text if template and template.kind == "CALL_SCRIPT" and template.text else None


class ActivityAction(TaskAction):
    key = "activity"
    label = "Activity"
    Config = ActivityConfig
    kind = TaskKind.ACTIVITY
    produces = "activity task"
    template_fields = ("title", "description")

    def render(self, ctx, target, context):
        description = ctx.config.description
        body = ctx.templates.render(description, context) if description else ""
        return ctx.templates.render(ctx.config.title, context), body, ctx.config.activity_type.value
