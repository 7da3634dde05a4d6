"""The ``opportunity`` action: one sales opportunity per target (no email), owned by the
campaign's owner, the target's owner or a chosen team member; inserted by ``persist`` in
the transaction that marks the delivery done."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Sequence

from drumbeat import ActionContext, ActionType, Outcome, Target, TemplateProblem
from drumbeat.plugins.sales.config import (
    CLOSED_STAGES, STAGE_PROBABILITY, OpportunityConfig, OwnerStrategy,
)
from drumbeat.plugins.sales.money import to_cents

_TABLE_OF = {"contact": "drumbeat_contact", "company": "drumbeat_company",
             "lead": "drumbeat_lead"}


def member_id(global_id: str | None) -> int | None:
    """The database id in a TeamMember global id (``None`` when it is not one)."""
    from strawberry import relay

    try:
        value = relay.GlobalID.from_id(global_id or "")
    except Exception:
        return None
    return int(value.node_id) if value.type_name == "TeamMember" and value.node_id.isdigit() else None


class OpportunityAction(ActionType):
    key = "opportunity"
    label = "Sales opportunity"
    Config = OpportunityConfig
    recipient_kinds = ("company", "contact", "lead")
    produces = "opportunity"

    def check_config(self, config: OpportunityConfig, templates):
        problems = []
        try:
            templates.check(config.title)
        except TemplateProblem as exc:
            problems.append((("title",), str(exc)))
        if config.owner is OwnerStrategy.MEMBER and member_id(config.owner_member_id) is None:
            problems.append((("ownerMemberId",), "Expected the id of a TeamMember."))
        return problems

    def render_sample(self, ctx: ActionContext, target: Target):
        return {"title": self._title(ctx, target)}

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        config: OpportunityConfig = ctx.config
        owners = await self._owners(ctx, batch)
        now = datetime.now(timezone.utc)
        probability = (config.probability if config.probability is not None
                       else STAGE_PROBABILITY[config.stage])
        outcomes = []
        for target in batch:
            try:
                title = self._title(ctx, target)
            except TemplateProblem as exc:
                outcomes.append(Outcome.failed(target, f"template: {exc}"))
                continue
            if target.test:
                outcomes.append(Outcome.done(target))
                continue
            row = {
                "delivery": target.delivery_id, "campaign": ctx.campaign.id,
                "step": ctx.step_id, "target_kind": target.kind, "target_id": target.id,
                "title": title[:300], "stage": config.stage.value,
                "value_cents": to_cents(config.value), "currency": config.currency,
                "probability": probability, "owner": owners.get(target.delivery_id),
                "expected_close": (now.date() + timedelta(days=config.expected_close_in_days)
                                   if config.expected_close_in_days is not None else None),
                "stage_history": json.dumps([{"stage": config.stage.value,
                                              "probability": probability,
                                              "at": now.isoformat(), "by": None}]),
                "closed_at": now if config.stage in CLOSED_STAGES else None,
                "created_at": now, "updated_at": now,
            }
            outcomes.append(Outcome.done(target, persist=partial(_insert, row)))
        return outcomes

    def _title(self, ctx: ActionContext, target: Target) -> str:
        return " ".join(ctx.templates.render(ctx.config.title, ctx.render_context(target)).split())

    async def _owners(self, ctx: ActionContext, batch: Sequence[Target]) -> dict[int, int | None]:
        """Each delivery's owner, by the config's strategy (the campaign's owner when the
        target has none, or the chosen member no longer exists)."""
        config: OpportunityConfig = ctx.config
        db = ctx.db
        if db is None:
            return {}
        campaign_owner = await db.fetchval("SELECT owner FROM drumbeat_campaign WHERE id = {}",
                                           ctx.campaign.id)
        if config.owner is OwnerStrategy.MEMBER:
            chosen = await db.fetchval("SELECT id FROM drumbeat_team_member WHERE id = {}",
                                       member_id(config.owner_member_id) or 0)
            return {t.delivery_id: chosen or campaign_owner for t in batch}
        if config.owner is OwnerStrategy.CAMPAIGN_OWNER:
            return {t.delivery_id: campaign_owner for t in batch}
        owned: dict[tuple[str, int], int] = {}
        for kind, table in _TABLE_OF.items():
            ids = [t.id for t in batch if t.kind == kind]
            if ids:
                marks = ", ".join("{}" for _ in ids)
                for r in await db.fetch(f"SELECT id, owner FROM {table} WHERE id IN ({marks})",
                                        *ids):
                    if r["owner"] is not None:
                        owned[(kind, r["id"])] = r["owner"]
        return {t.delivery_id: owned.get((t.kind, t.id), campaign_owner) for t in batch}


async def _insert(row: dict, db) -> None:
    columns = ", ".join(row)
    marks = ", ".join("{}" for _ in row)
    await db.execute(f"INSERT INTO drumbeat_opportunity ({columns}) VALUES ({marks})"
                     " ON CONFLICT (delivery) DO NOTHING", *row.values())
