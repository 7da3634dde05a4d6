"""The sales mutations: ``invoiceMarkPaid``, ``invoiceCancel``, ``invoiceResendEmail``,
``opportunityMoveStage``, ``offerAccept``, ``offerDecline`` and ``offerResendEmail`` (see
``service`` and ``resend`` for who may and the rules)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay

from drumbeat.plugins.sales import resend, service
from drumbeat.plugins.sales.config import Stage
from drumbeat.plugins.sales.graphql_types import Invoice, Offer, Opportunity, OpportunityStage
from drumbeat.schema_kit import Info, UserError, node_id, payload


_RESEND = (
    "Email the {what} again when its email FAILED, or stayed PENDING after its delivery "
    "gave up: the stored document, with the same Message-ID as the first email. Sales, an "
    "admin or the campaign's owner. SENT, NOT_SENT (sendEmails off, or no address), "
    "SUPPRESSED or a suppressed address: refused (INVALID_STATE).{extra} Answers the {what} "
    "with its new emailStatus: SENT, or FAILED with the server's answer in emailError.")


@strawberry.type
class InvoicePayload:
    invoice: Invoice | None
    errors: list[UserError]


@strawberry.type
class OpportunityPayload:
    opportunity: Opportunity | None
    errors: list[UserError]


@strawberry.type
class OfferPayload:
    offer: Offer | None
    errors: list[UserError]


@strawberry.type
class SalesMutations:
    @strawberry.mutation(description=(
        "Mark an issued invoice paid (default: now; not in the future, not before it was "
        "issued). Sales, an admin or the campaign's owner. Already paid: the invoice is "
        "returned unchanged, without an error. Cancelled: refused."))
    async def invoice_mark_paid(self, info: Info, id: relay.GlobalID,
                                paid_at: datetime | None = None) -> InvoicePayload:
        async def work():
            row = await service.invoice_mark_paid(
                info.context.platform.db, info.context.member, node_id(id, "Invoice", "id"),
                paid_at)
            return {"invoice": Invoice.from_row(row)}

        return await payload(InvoicePayload, work, invoice=None)

    @strawberry.mutation(description=(
        "Cancel an issued invoice with a reason; its number stays used. Paid: refused. "
        "Already cancelled: returned unchanged."))
    async def invoice_cancel(self, info: Info, id: relay.GlobalID, reason: str
                             ) -> InvoicePayload:
        async def work():
            row = await service.invoice_cancel(
                info.context.platform.db, info.context.member, node_id(id, "Invoice", "id"),
                reason)
            return {"invoice": Invoice.from_row(row)}

        return await payload(InvoicePayload, work, invoice=None)

    @strawberry.mutation(description=_RESEND.format(what="invoice", extra=(
        " A cancelled invoice is refused. Its number, lines and totals stay as issued.")))
    async def invoice_resend_email(self, info: Info, id: relay.GlobalID) -> InvoicePayload:
        async def work():
            row = await resend.resend_email(info.context.platform, info.context.member,
                                            resend.INVOICE, node_id(id, "Invoice", "id"))
            return {"invoice": Invoice.from_row(row)}

        return await payload(InvoicePayload, work, invoice=None)

    @strawberry.mutation(description=(
        "Move an open opportunity to a stage (probability: default the stage's). WON and "
        "LOST close it."))
    async def opportunity_move_stage(self, info: Info, id: relay.GlobalID,
                                     stage: OpportunityStage, probability: int | None = None
                                     ) -> OpportunityPayload:
        async def work():
            row = await service.opportunity_move_stage(
                info.context.platform.db, info.context.member,
                node_id(id, "Opportunity", "id"), Stage(stage), probability)
            return {"opportunity": Opportunity.from_row(row)}

        return await payload(OpportunityPayload, work, opportunity=None)

    @strawberry.mutation(description="Accept an open offer (refused once it expired).")
    async def offer_accept(self, info: Info, id: relay.GlobalID) -> OfferPayload:
        return await _decide(info, id, True)

    @strawberry.mutation(description="Decline an open offer (refused once it expired).")
    async def offer_decline(self, info: Info, id: relay.GlobalID) -> OfferPayload:
        return await _decide(info, id, False)

    @strawberry.mutation(description=_RESEND.format(what="offer", extra=""))
    async def offer_resend_email(self, info: Info, id: relay.GlobalID) -> OfferPayload:
        async def work():
            row = await resend.resend_email(info.context.platform, info.context.member,
                                            resend.OFFER, node_id(id, "Offer", "id"))
            return {"offer": Offer.from_row(row)}

        return await payload(OfferPayload, work, offer=None)


async def _decide(info: Info, id: relay.GlobalID, accepted: bool) -> OfferPayload:
    async def work():
        row = await service.offer_decide(info.context.platform.db, info.context.member,
                                         node_id(id, "Offer", "id"), accepted)
        return {"offer": Offer.from_row(row)}

    return await payload(OfferPayload, work, offer=None)
