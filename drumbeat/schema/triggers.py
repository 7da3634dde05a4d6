"""Triggers in the API: ``campaignEnroll`` enrols one person into a RUNNING workflow
campaign on an event (creating the contact or lead when the email is new), and
``campaignReentrySet`` sets the campaign's re-entry rule — both for the campaign's owner or
an admin. The rules are in :mod:`drumbeat.platform.workflows.triggers`; the signed public
endpoint is :mod:`drumbeat.trigger_routes`."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import strawberry
from strawberry import relay

from drumbeat.platform.workflows import enrollments as enrollment_rows
from drumbeat.platform.workflows import triggers as service
from drumbeat.platform.workflows.triggers import Reentry
from drumbeat.schema.campaign_mutations import CampaignPayload
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.enrollments import Enrollment
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import node_id
from drumbeat.schema.leads import Lead

ReentryRule = strawberry.enum(Reentry, name="ReentryRule", description=(
    "When a trigger may enrol a recipient again: ONCE (never twice), AFTER_EXIT (once its "
    "enrollment COMPLETED or EXITED), ALWAYS (each trigger starts it over)."))


@strawberry.enum(description="What happened on the customer's side.")
class TriggerEvent(Enum):
    FORM_SUBMITTED = "FORM_SUBMITTED"
    NEWSLETTER_SIGNUP = "NEWSLETTER_SIGNUP"
    DOWNLOAD = "DOWNLOAD"
    OTHER = "OTHER"


@strawberry.input(description="The person; found by email (any case), else created.")
class TriggerPersonInput:
    email: str
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    phone: Optional[str] = None
    job_title: Optional[str] = strawberry.field(default=None, description="Contacts only.")
    language: Optional[str] = strawberry.field(default=None, description="Contacts only.")
    timezone: Optional[str] = strawberry.field(default=None, description="Contacts only.")
    country: Optional[str] = strawberry.field(default=None, description="Contacts only.")
    city: Optional[str] = strawberry.field(default=None, description="Contacts only.")
    company_name: Optional[str] = strawberry.field(default=None, description="Leads only.")


@strawberry.input
class CampaignEnrollInput:
    campaign_id: relay.GlobalID
    event: TriggerEvent
    contact: Optional[TriggerPersonInput] = None
    contact_id: Optional[relay.GlobalID] = strawberry.field(
        default=None, description="An existing contact (instead of contact).")
    as_lead: bool = strawberry.field(
        default=False, description="Create a lead (not a contact) when the email is new.")


@strawberry.type
class CampaignEnrollPayload:
    enrolled: bool
    reason: Optional[str] = strawberry.field(description=(
        "Why not: ALREADY_ENROLLED (ONCE), STILL_ENROLLED (AFTER_EXIT) or CHANGED (a "
        "concurrent change; try again)."))
    created: bool = strawberry.field(description="Whether the contact or lead was created.")
    enrollment: Optional[Enrollment]
    contact: Optional[Contact]
    lead: Optional[Lead]
    errors: list[UserError]


@strawberry.type
class TriggerMutations:
    @strawberry.mutation(description="Enrol a person into a RUNNING workflow campaign on an "
                                     "event, per the campaign's re-entry rule.")
    async def campaign_enroll(self, info: Info, input: CampaignEnrollInput) -> CampaignEnrollPayload:
        async def work():
            campaign_id = node_id(input.campaign_id, "Campaign", "campaignId")
            contact_id = None if input.contact_id is None else node_id(
                input.contact_id, "Contact", "contactId")
            person = None if input.contact is None else {
                k: v for k, v in vars(input.contact).items() if v is not None}
            platform = info.context.platform
            result = await service.enroll_by_member(
                platform, info.context.member, campaign_id, input.event.value, person,
                contact_id, input.as_lead)
            row = None if result.enrollment_id is None else await enrollment_rows.get(
                platform.db, result.enrollment_id)
            contact = None if result.contact_id is None else (await Contact.resolve_nodes(
                info=info, node_ids=[str(result.contact_id)]))[0]
            lead = None if result.lead_id is None else (await Lead.resolve_nodes(
                info=info, node_ids=[str(result.lead_id)]))[0]
            return {"enrolled": result.enrolled, "reason": result.reason,
                    "created": result.created, "contact": contact, "lead": lead,
                    "enrollment": Enrollment.from_row(row) if row else None}

        return await payload(CampaignEnrollPayload, work, enrolled=False, reason=None,
                             created=False, enrollment=None, contact=None, lead=None)

    @strawberry.mutation(description="Set when a trigger may enrol a recipient again.")
    async def campaign_reentry_set(self, info: Info, campaign_id: relay.GlobalID,
                                   rule: ReentryRule) -> CampaignPayload:
        async def work():
            row = await service.set_reentry(info.context.platform, info.context.member,
                                            node_id(campaign_id, "Campaign", "campaignId"),
                                            Reentry(rule))
            return {"campaign": Campaign.from_row(row)}

        return await payload(CampaignPayload, work, campaign=None)
