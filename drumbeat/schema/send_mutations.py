"""Sends outside the workflow: ``campaignSendNow`` (an ad-hoc email to chosen recipients,
through the ledger and tracking) and ``campaignTestSend`` (one step rendered for one
recipient, sent to a given address; nothing recorded)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform.adhoc_send import AdhocEmail, send_now
from drumbeat.platform.errors import DomainError, ErrorCode, Problem
from drumbeat.platform.tables import SkipReason
from drumbeat.platform.test_send import send_test
from drumbeat.schema.audience_fields import ReasonCount
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id

PARTY_TYPES = {"Contact": "contact", "Company": "company", "Lead": "lead"}


@strawberry.input(description=(
    "An email to chosen recipients of a launched campaign (RUNNING, PAUSED or COMPLETED). "
    "Give a subject and a text (and optionally html) body as Jinja2 templates, or an EMAIL "
    "template; with neither, the campaign's EMAIL template is sent."))
class CampaignSendNowInput:
    campaign_id: relay.GlobalID
    contact_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Contacts of the campaign's audience.")
    company_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Companies of the audience (dispatched like a launch).")
    lead_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Leads of the audience.")
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: relay.GlobalID | None = None


@strawberry.type
class CampaignSendNowPayload:
    step_id: int | None = strawberry.field(description="The ad-hoc step the send made.")
    queued: int = strawberry.field(description="Deliveries enqueued for sending.")
    skipped: list[ReasonCount] = strawberry.field(
        description="Targets not addressed, by reason (unsubscribed, suppressed…).")
    errors: list[UserError]


@strawberry.input
class CampaignTestSendInput:
    campaign_id: relay.GlobalID
    to: str = strawberry.field(description="The one address the test goes to.")
    step_id: int | None = strawberry.field(
        default=None, description="A step of the campaign (default: its first start step).")
    recipient: relay.GlobalID | None = strawberry.field(
        default=None, description=("A contact, company or lead whose data personalises the "
                                   "test (default: the campaign's first recipient)."))


@strawberry.type
class CampaignTestSendPayload:
    sent: bool
    error: str | None = strawberry.field(description="Why the action failed (sent is false).")
    message_id: str | None
    errors: list[UserError]


def _ids(input: CampaignSendNowInput) -> dict[str, list[int]]:
    """Decode every recipient id, each bad one reported with its index."""
    problems: list[Problem] = []
    result: dict[str, list[int]] = {}
    for kind, values, type_name, field in (
            ("contact", input.contact_ids, "Contact", "contactIds"),
            ("company", input.company_ids, "Company", "companyIds"),
            ("lead", input.lead_ids, "Lead", "leadIds")):
        result[kind] = []
        for index, value in enumerate(values):
            try:
                result[kind].append(node_id(value, type_name, "input", field, index))
            except DomainError as exc:
                problems += exc.problems
    if problems:
        raise DomainError(problems)
    return result


def _party(value: relay.GlobalID | None) -> tuple[str, int] | None:
    if value is None:
        return None
    kind = PARTY_TYPES.get(value.type_name)
    if kind is None or not value.node_id.isdigit():
        raise DomainError.one("Expected the id of a Contact, Company or Lead.",
                              ErrorCode.INVALID, ["input", "recipient"])
    return kind, int(value.node_id)


@strawberry.type
class SendMutations:
    @strawberry.mutation(description=(
        "Email chosen recipients of a launched campaign now, outside its workflow: an "
        "ad-hoc step whose deliveries go through the ledger (skips with reasons), the "
        "workers and tracking like a launch's. Campaign owner or admin."))
    async def campaign_send_now(self, info: Info,
                                input: CampaignSendNowInput) -> CampaignSendNowPayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            ids = _ids(input)
            template_id = (node_id(input.template_id, "Template", "input", "templateId")
                           if input.template_id is not None else None)
            result = await send_now(
                info.context.platform, info.context.member, campaign_id, ids,
                AdhocEmail(subject=input.subject, text=input.text, html=input.html,
                           template_id=template_id))
            return {"step_id": result.step_id, "queued": result.queued,
                    "skipped": [ReasonCount(reason=SkipReason(k), count=v)
                                for k, v in sorted(result.skipped.items())]}

        return await payload(CampaignSendNowPayload, work, step_id=None, queued=0, skipped=[])

    @strawberry.mutation(description=(
        "Render a step's action for one recipient and send it to the given address: a "
        "preview (subject marked [Test], no tracking), recorded nowhere but the audit log. "
        "Any campaign state. Campaign owner or admin."))
    async def campaign_test_send(self, info: Info,
                                 input: CampaignTestSendInput) -> CampaignTestSendPayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "input", "campaignId")
            result = await send_test(info.context.platform, info.context.member, campaign_id,
                                     input.to, step_id=input.step_id,
                                     party=_party(input.recipient))
            return {"sent": result.sent, "error": result.error,
                    "message_id": result.message_id}

        return await payload(CampaignTestSendPayload, work, sent=False, error=None,
                             message_id=None)
