"""Templates in the API: the ``Template`` node, ``template`` / ``templates`` /
``templatePreview``, ``templateCreate`` / ``templateUpdate`` / ``templateDelete``, and
``Campaign.template`` (``CampaignTemplateFields`` is mixed into ``Campaign``)."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import strawberry
from strawberry import relay

from drumbeat.platform import templates as service
from drumbeat.platform.errors import DomainError
from drumbeat.platform.tables import Template as TemplateTable
from drumbeat.platform.tables import TemplateKind as TemplateKindEnum
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload, user_errors
from drumbeat.schema.ids import id_of, node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.team import TeamMember

TemplateKind = strawberry.enum(
    TemplateKindEnum, name="TemplateKind",
    description="EMAIL: subject, text, optional html. CALL_SCRIPT: text. "
                "DOCUMENT: html, optional text.")


@strawberry.type(description="A Jinja2 template (rendered in a sandbox). Variables: contact, "
                             "company, campaign, sender; a missing one renders empty.")
class Template(relay.Node):
    id: relay.NodeID[int]
    name: str
    kind: TemplateKind
    subject: str
    text: str
    html: str
    created_at: datetime
    updated_at: datetime
    owner_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: dict) -> "Template":
        return cls(id=row["id"], name=row["name"], kind=TemplateKindEnum(row["kind"]),
                   subject=row["subject"], text=row["text"], html=row["html"],
                   created_at=row["created_at"], updated_at=row["updated_at"],
                   owner_id=row["owner"])

    @strawberry.field(description="The only member besides an admin who may change it.")
    async def owner(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.owner_id))

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        ids = [int(i) for i in node_ids if i.isdigit()]
        rows = {r["id"]: r for r in await TemplateTable.select().where(TemplateTable.id.is_in(ids))}
        return [cls.from_row(rows[int(i)]) if i.isdigit() and int(i) in rows else None
                for i in node_ids]


async def _templates(ids: Sequence[int]) -> list[dict | None]:
    rows = await TemplateTable.select().where(TemplateTable.id.is_in(list(ids)))
    by_id = {row["id"]: row for row in rows}
    return [by_id.get(i) for i in ids]


@strawberry.type
class CampaignTemplateFields:
    """Fields of ``Campaign`` about its template (``self`` is a ``Campaign``)."""

    @strawberry.field(description="What its actions send when they do not bring their own "
                                  "content (an email action without subject/text uses this "
                                  "EMAIL template).")
    async def template(self, info: Info) -> Template | None:
        template_id = self.row["template"]
        if template_id is None:
            return None
        row = await info.context.loader("templates", _templates).load(template_id)
        return Template.from_row(row) if row else None


@strawberry.type(description="A template rendered for one recipient; a part that is empty "
                             "or fails is null, with its error.")
class TemplatePreview:
    subject: str | None
    text: str | None
    html: str | None
    errors: list[UserError]


@strawberry.input
class TemplateCreateInput:
    name: str
    kind: TemplateKind
    subject: str | None = None
    text: str | None = None
    html: str | None = None


@strawberry.input(description="Only the fields given change; null clears a part.")
class TemplateUpdateInput:
    name: str | None = strawberry.UNSET
    kind: TemplateKind | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    text: str | None = strawberry.UNSET
    html: str | None = strawberry.UNSET


@strawberry.type
class TemplatePayload:
    template: Template | None
    errors: list[UserError]


@strawberry.type
class TemplateDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


def _given(input: TemplateCreateInput | TemplateUpdateInput) -> dict:
    fields = {}
    for name in ("name", "kind", *service.PARTS):
        value = getattr(input, name)
        if value is not strawberry.UNSET and not (name == "kind" and value is None):
            fields[name] = value
    return fields


@strawberry.type
class TemplateQueries:
    @strawberry.field
    async def template(self, info: Info, id: relay.GlobalID) -> Template | None:
        info.context.require_member()
        if (template_id := id_of(id, "Template")) is None:
            return None
        row = await service.get_template(info.context.member, template_id)
        return Template.from_row(row) if row else None

    @strawberry.field(description="Templates, newest first, optionally of one kind.")
    async def templates(self, info: Info, kind: TemplateKind | None = None,
                        first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None
                        ) -> relay.Connection[Template]:
        info.context.require_member()
        return await keyset_connection(
            TemplateTable, Template.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
            where=[TemplateTable.kind == TemplateKindEnum(kind).value] if kind else [],
        )

    @strawberry.field(description="Render a template for one contact, with exactly the "
                                  "variables a send of the campaign (if given) would use.")
    async def template_preview(self, info: Info, template_id: relay.GlobalID,
                               contact_id: relay.GlobalID,
                               campaign_id: relay.GlobalID | None = None) -> TemplatePreview:
        info.context.require_member()
        try:
            preview = await service.preview_template(
                info.context.platform, info.context.member,
                node_id(template_id, "Template", "templateId"),
                node_id(contact_id, "Contact", "contactId"),
                None if campaign_id is None else node_id(campaign_id, "Campaign", "campaignId"))
        except DomainError as exc:
            return TemplatePreview(subject=None, text=None, html=None, errors=user_errors(exc))
        return TemplatePreview(subject=preview.subject, text=preview.text, html=preview.html,
                               errors=user_errors(DomainError(preview.errors)))


@strawberry.type
class TemplateMutations:
    @strawberry.mutation(description="Create a template (marketers and admins).")
    async def template_create(self, info: Info, input: TemplateCreateInput) -> TemplatePayload:
        async def work():
            row = await service.create_template(info.context.platform, info.context.member,
                                                _given(input))
            return {"template": Template.from_row(row)}

        return await payload(TemplatePayload, work, template=None)

    @strawberry.mutation(description="Change a template (its owner or an admin).")
    async def template_update(self, info: Info, id: relay.GlobalID,
                              input: TemplateUpdateInput) -> TemplatePayload:
        async def work():
            row = await service.update_template(info.context.platform, info.context.member,
                                                node_id(id, "Template", "id"), _given(input))
            return {"template": Template.from_row(row)}

        return await payload(TemplatePayload, work, template=None)

    @strawberry.mutation(description="Delete a template (its owner or an admin). Refused while "
                                     "a running or paused campaign uses it; other campaigns "
                                     "using it are left without a template.")
    async def template_delete(self, info: Info, id: relay.GlobalID) -> TemplateDeletePayload:
        async def work():
            await service.delete_template(info.context.platform, info.context.member,
                                          node_id(id, "Template", "id"))
            return {"deleted_id": id}

        return await payload(TemplateDeletePayload, work, deleted_id=None)
