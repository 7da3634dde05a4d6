"""A plugin used by the tests of the plugin hooks: it brings a table (its own Piccolo app
and migration), an action type that writes one note per delivery through
``Outcome.done(persist=…)``, and GraphQL fields — using only the public API."""

from __future__ import annotations

from typing import Sequence

import strawberry
from pydantic import BaseModel, ConfigDict
from strawberry import relay

from drumbeat import ActionType, GraphQLContribution, Outcome, Target, hookimpl
from drumbeat.schema_kit import Info, id_of, require_member

APP = "tests.support.notes_plugin.piccolo_app"


class NoteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = "Hello {{ contact.first_name }}"


class NoteAction(ActionType):
    key = "note"
    label = "Note"
    Config = NoteConfig

    async def execute(self, ctx, batch: Sequence[Target]) -> list[Outcome]:
        return [Outcome.done(t, persist=self._writer(ctx, t)) for t in batch]

    @staticmethod
    def _writer(ctx, target: Target):
        text = ctx.templates.render(ctx.config.text, ctx.render_context(target))

        async def persist(db) -> None:
            await db.execute(
                "INSERT INTO test_plugin_note (delivery, campaign, text) VALUES ({}, {}, {})",
                target.delivery_id, ctx.campaign.id, text)

        return persist


@strawberry.type
class NoteQueries:
    @strawberry.field(description="The notes written for a campaign (test plugin).")
    async def plugin_notes(self, info: Info, campaign_id: relay.GlobalID) -> list[str]:
        require_member(info.context.member)
        rows = await info.context.platform.db.fetch(
            "SELECT text FROM test_plugin_note WHERE campaign = {} ORDER BY delivery",
            id_of(campaign_id, "Campaign") or 0)
        return [r["text"] for r in rows]


@strawberry.type
class ClashingQueries:
    @strawberry.field
    def campaigns(self) -> int:
        return 0


class NotesPlugin:
    @hookimpl
    def drumbeat_action_types(self):
        return [NoteAction()]

    @hookimpl
    def drumbeat_graphql(self):
        return [GraphQLContribution(query=NoteQueries)]

    @hookimpl
    def drumbeat_piccolo_apps(self):
        return [APP]


class ClashingPlugin:
    @hookimpl
    def drumbeat_graphql(self):
        return [GraphQLContribution(query=ClashingQueries)]
