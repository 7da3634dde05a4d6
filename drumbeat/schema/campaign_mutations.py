"""Campaign mutations: ``campaignCreate``, ``campaignUpdate``, ``campaignDelete``,
``campaignRecipientsAdd``, ``campaignRecipientsRemove``. The lifecycle moves are in
``lifecycle_mutations``."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import campaigns as service
from drumbeat.platform import recipients
from drumbeat.platform.errors import DomainError
from drumbeat.schema.campaigns import Campaign, DispatchStrategy, SenderStrategy
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id, node_ids
from drumbeat.schema.segment_filter import SegmentFilter, filter_json


@strawberry.input
class ActionInput:
    type: str = strawberry.field(description="An action type's key (see actionTypes).")
    config: JSON = strawberry.field(description="Validated against the type's configSchema.")


@strawberry.input
class CampaignCreateInput:
    name: str
    action: ActionInput
    goal: str = ""
    description: str = ""
    owner_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Default: the creator.")
    sender_strategy: SenderStrategy | None = None
    dispatch_strategy: DispatchStrategy | None = None
    template_id: relay.GlobalID | None = None
    send_emails: bool | None = None
    require_consent: bool | None = strawberry.field(
        default=None, description="Only contacts whose consent is GRANTED are addressed.")
    evergreen: bool | None = strawberry.field(
        default=None, description="Stay RUNNING when everything has finished, so triggers "
                                  "can keep enrolling people (ends when cancelled).")
    scheduled_start: datetime | None = strawberry.field(
        default=None, description="A READY campaign launches by itself at this time.")
    tags: list[str] | None = None


@strawberry.input(description="Only the fields given change; null clears a nullable field.")
class CampaignUpdateInput:
    name: str | None = strawberry.UNSET
    goal: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    results: str | None = strawberry.UNSET
    owner_id: relay.GlobalID | None = strawberry.UNSET
    sender_strategy: SenderStrategy | None = strawberry.UNSET
    dispatch_strategy: DispatchStrategy | None = strawberry.UNSET
    template_id: relay.GlobalID | None = strawberry.UNSET
    send_emails: bool | None = strawberry.UNSET
    require_consent: bool | None = strawberry.UNSET
    evergreen: bool | None = strawberry.UNSET
    scheduled_start: datetime | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    action: ActionInput | None = strawberry.field(
        default=strawberry.UNSET, description="Replace a quick campaign's action (in preparation).")


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None
    errors: list[UserError]


@strawberry.type
class CampaignDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class CampaignRecipientsPayload:
    campaign: Campaign | None
    added: int
    already_present: int
    errors: list[UserError]


@strawberry.type
class CampaignRecipientsRemovePayload:
    campaign: Campaign | None
    removed: int
    not_present: int
    errors: list[UserError]


def _fields(input: CampaignCreateInput | CampaignUpdateInput) -> dict:
    """The given fields of an input, ids decoded (UNSET ones left out)."""
    fields = {}
    for name in ("name", "goal", "description", "results", "sender_strategy",
                 "dispatch_strategy", "send_emails", "require_consent", "evergreen", "scheduled_start",
                 "tags"):
        value = getattr(input, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            fields[name] = value
    for name, type_name, field in (("owner_id", "TeamMember", "ownerId"),
                                   ("template_id", "Template", "templateId")):
        value = getattr(input, name)
        if value is not strawberry.UNSET:
            fields[name] = None if value is None else node_id(value, type_name, "input", field)
    return fields


def _action(action: ActionInput | None) -> service.ActionInput | None:
    if action is None or action is strawberry.UNSET:
        return None
    config = action.config if isinstance(action.config, dict) else {}
    return service.ActionInput(type=action.type, config=config)


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(description="Create a quick campaign: one state running one action.")
    async def campaign_create(self, info: Info, input: CampaignCreateInput) -> CampaignPayload:
        async def work():
            fields = _fields(input)
            row = await service.create_campaign(info.context.platform, info.context.member,
                                                fields.pop("name"), _action(input.action),
                                                **fields)
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignPayload, work, campaign=None)

    @strawberry.mutation(description="Change a campaign's fields (owner or admin).")
    async def campaign_update(self, info: Info, id: relay.GlobalID,
                              input: CampaignUpdateInput) -> CampaignPayload:
        async def work():
            row = await service.update_campaign(
                info.context.platform, info.context.member, node_id(id, "Campaign", "id"),
                _fields(input), action=_action(input.action))
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignPayload, work, campaign=None)

    @strawberry.mutation(description="Delete a campaign that never ran (owner or admin).")
    async def campaign_delete(self, info: Info, id: relay.GlobalID) -> CampaignDeletePayload:
        async def work():
            await service.delete_campaign(info.context.platform, info.context.member,
                                          node_id(id, "Campaign", "id"))
            return {"deleted_id": id}

        return await payload(CampaignDeletePayload, work, deleted_id=None)

    @strawberry.mutation(description=(
        "Add recipients: contacts, companies and leads by id, and contacts by segment, "
        "distribution list or filter (evaluated now). Those already present are ignored."))
    async def campaign_recipients_add(
        self, info: Info, campaign_id: relay.GlobalID,
        contact_ids: list[relay.GlobalID] | None = None,
        company_ids: list[relay.GlobalID] | None = None,
        lead_ids: list[relay.GlobalID] | None = None,
        segment_id: relay.GlobalID | None = None,
        list_id: relay.GlobalID | None = None,
        filter: SegmentFilter | None = None,
    ) -> CampaignRecipientsPayload:
        async def work():
            cid = node_id(campaign_id, "Campaign", "campaignId")
            selection = recipients.Selection(
                ids=_ids(contact_ids, company_ids, lead_ids),
                segment_id=node_id(segment_id, "Segment", "segmentId") if segment_id else None,
                list_id=node_id(list_id, "DistributionList", "listId") if list_id else None,
                filter=filter_json(filter) if filter is not None else None)
            result = await recipients.add_recipients(info.context.platform, info.context.member,
                                                     cid, selection)
            return {"campaign": Campaign.from_row(await service.get_campaign(cid)),
                    "added": result.total, "already_present": result.unchanged}

        return await payload(CampaignRecipientsPayload, work, campaign=None, added=0,
                             already_present=0)

    @strawberry.mutation(description="Remove contacts, companies or leads from the audience.")
    async def campaign_recipients_remove(
        self, info: Info, campaign_id: relay.GlobalID,
        contact_ids: list[relay.GlobalID] | None = None,
        company_ids: list[relay.GlobalID] | None = None,
        lead_ids: list[relay.GlobalID] | None = None,
    ) -> CampaignRecipientsRemovePayload:
        async def work():
            cid = node_id(campaign_id, "Campaign", "campaignId")
            result = await recipients.remove_recipients(
                info.context.platform, info.context.member, cid,
                _ids(contact_ids, company_ids, lead_ids))
            return {"campaign": Campaign.from_row(await service.get_campaign(cid)),
                    "removed": result.total, "not_present": result.unchanged}

        return await payload(CampaignRecipientsRemovePayload, work, campaign=None, removed=0,
                             not_present=0)


def _ids(contacts, companies, leads) -> dict[str, list[int]]:
    """Decode the global ids of each kind (every bad one reported with its index)."""
    problems: list = []
    result = {}
    for kind, values, type_name, field in (("contact", contacts, "Contact", "contactIds"),
                                           ("company", companies, "Company", "companyIds"),
                                           ("lead", leads, "Lead", "leadIds")):
        if values:
            try:
                result[kind] = node_ids(values, type_name, field)
            except DomainError as exc:
                problems += exc.problems
    if problems:
        raise DomainError(problems)
    return result
