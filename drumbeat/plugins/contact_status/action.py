"""``contact_status``: add and remove tags of each target contact (its "status")."""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field, field_validator

from drumbeat import ActionContext, ActionType, Outcome, Target

MAX_TAGS = 10
MAX_TAG_CHARS = 50


def _clean(values: list[str]) -> list[str]:
    """Distinct trimmed tags (a dict keeps their order; no list-membership scans)."""
    result: dict[str, None] = {}
    for value in values:
        tag = value.strip()
        if not tag or len(tag) > MAX_TAG_CHARS or any(c in tag for c in "\r\n\t"):
            raise ValueError(f"a tag is 1–{MAX_TAG_CHARS} characters on one line: {value[:60]!r}")
        result[tag] = None
    return list(result)


class ContactStatusConfig(BaseModel):
    model_config = {"extra": "forbid"}

    add: list[str] = Field(default_factory=list, max_length=MAX_TAGS,
                           description="Tags the contact gets (e.g. no-reply).")
    remove: list[str] = Field(default_factory=list, max_length=MAX_TAGS,
                              description="Tags the contact loses.")

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return _clean(values)


class ContactStatusAction(ActionType):
    key = "contact_status"
    label = "Update the contact's status (tags)"
    Config = ContactStatusConfig
    recipient_kinds = ("contact",)
    produces = "status update"

    def check_config(self, config: ContactStatusConfig, templates) -> list:
        if not config.add and not config.remove:
            return [(("add",), "Add or remove at least one tag.")]
        if set(config.add) & set(config.remove):
            return [(("remove",), "A tag cannot be both added and removed.")]
        return []

    def render_sample(self, ctx: ActionContext, target: Target) -> dict[str, str]:
        return {"add": ", ".join(ctx.config.add), "remove": ", ".join(ctx.config.remove)}

    async def execute(self, ctx: ActionContext, batch: Sequence[Target]) -> list[Outcome]:
        outcomes = []
        for target in batch:
            if target.kind != "contact":
                outcomes.append(Outcome.failed(target, "only a contact has tags"))
                continue
            outcomes.append(Outcome.done(target, persist=_update(target.id, ctx.config)))
        return outcomes


def _update(contact_id: int, config: ContactStatusConfig):
    async def persist(db) -> None:
        for tag in config.remove:
            await db.execute("DELETE FROM drumbeat_contact_tag WHERE contact = {} AND tag = {}",
                             contact_id, tag)
        for tag in config.add:
            await db.execute(
                "INSERT INTO drumbeat_contact_tag (contact, tag)"
                " SELECT CAST({} AS INTEGER), CAST({} AS VARCHAR(50))"
                " WHERE NOT EXISTS (SELECT 1 FROM drumbeat_contact_tag"
                " WHERE contact = {} AND tag = {})", contact_id, tag, contact_id, tag)

    return persist
