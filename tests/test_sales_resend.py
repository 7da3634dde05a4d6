"""Emailing an invoice or an offer again (``invoiceResendEmail`` / ``offerResendEmail``)
through the API, against a real SMTP server that refuses some recipients until it
recovers: who may, which documents (FAILED, PENDING once its delivery gave up), the same
Message-ID and invoice number, suppression checked at resend time, one email for two
resends at once, audit entries."""

from __future__ import annotations

import asyncio
import time

import pytest
from strawberry import relay

from drumbeat import message_id_for
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import db_id
from tests.support.smtp import SmtpSink, _Handler
from tests.test_sales_plugin import (
    INVOICES, LINES, OFFERS, admin, assert_gapless, campaign, companies, completed, invoices_of,
    launch,
)

RESEND_INVOICE = """
mutation($id: ID!) { invoiceResendEmail(id: $id) {
  invoice { id number emailStatus emailError messageId status } errors { field message code } } }"""
RESEND_OFFER = """
mutation($id: ID!) { offerResendEmail(id: $id) {
  offer { id emailStatus emailError messageId } errors { field message code } } }"""
CANCEL = """
mutation($id: ID!) { invoiceCancel(id: $id, reason: "wrong customer") {
  invoice { status } errors { code } } }"""
AUDIT = """
query($id: ID!) { campaign(id: $id) { auditLog(first: 50) { edges { node {
  action member { id } changes { field old new } } } } } }"""
FAILING = "554 5.3.0 mail system out of order"


class _Switchable(_Handler):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "+flaky" in address and self.sink.answer:
            return self.sink.answer
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


class SwitchableSink(SmtpSink):
    """The test sink, but recipients with ``+flaky`` get ``answer`` (while it is set)."""

    handler = _Switchable

    def __init__(self, delay: float = 0.0):
        super().__init__(delay)
        self.answer: str | None = None


@pytest.fixture
def sink():
    sink = SwitchableSink(delay=0.2).start()
    yield sink
    sink.stop()


async def _member(server, role: str) -> tuple[str, GraphQLClient]:
    member_id, token = await member_token(server, role)
    return str(relay.GlobalID("TeamMember", str(member_id))), GraphQLClient(server.url, token)


async def _first_key(server, table: str, doc_id: str) -> str:
    """The Message-ID the worker gave the document's delivery (launch: no entry suffix)."""
    row = await server.call(server.platform.db.fetchrow(
        f"SELECT campaign, step, target_kind, target_id FROM {table} WHERE id = {{}}",
        db_id(doc_id)))
    key = f"c{row['campaign']}.s{row['step']}.{row['target_kind']}{row['target_id']}"
    return message_id_for(key, server.platform.settings)


async def _audit(api, cid: str, action: str) -> list[dict]:
    edges = (await api.data(AUDIT, {"id": cid}))["campaign"]["auditLog"]["edges"]
    return [e["node"] for e in edges if e["node"]["action"] == action]


async def test_failed_invoice_is_resent_once_the_server_recovers(make_server, sink):
    server = make_server(smtp_url=sink.url)
    api = await admin(server)
    owner_id, owner = await _member(server, "MARKETER")
    _, other = await _member(server, "MARKETER")
    tag = unique("resend")
    flaky, fine = f"{tag}-0+flaky@example.org", f"{tag}-1@example.org"
    sink.answer = FAILING
    cid = await campaign(api, "invoice", {"lines": LINES}, owner=owner_id)
    await launch(api, cid, await companies(api, [flaky, fine]))
    assert (await completed(api, cid))["done"] == 2
    invoices = {i["recipientAddress"]: i for i in await invoices_of(api, cid)}
    failed, sent = invoices[flaky], invoices[fine]
    assert failed["emailStatus"] == "FAILED" and "554" in failed["emailError"]
    assert sent["emailStatus"] == "SENT"
    first = sink.wait_for(db_id(cid), 1)
    assert [m.rcpt_to[0] for m in first] == [fine]
    # The worker's Message-IDs are message_id_for(<delivery key>): the resend must reuse it.
    [received] = first
    assert received.message_id == await _first_key(server, "drumbeat_invoice", sent["id"])

    refused = (await other.data(RESEND_INVOICE, {"id": failed["id"]}))["invoiceResendEmail"]
    assert refused["invoice"] is None and refused["errors"][0]["code"] == "FORBIDDEN"
    still = (await owner.data(RESEND_INVOICE, {"id": failed["id"]}))["invoiceResendEmail"]
    assert still["errors"] == [] and still["invoice"]["emailStatus"] == "FAILED"
    assert "554" in still["invoice"]["emailError"]  # the server's answer, as data

    sink.answer = None  # the server recovers
    # A resend in flight elsewhere holds a lease; once it expired (that process died
    # mid-send) the next resend takes over.
    for deadline, refused_now in ((time.time() + 60, True), (time.time() - 1, False)):
        await server.call(server.platform.db.execute(
            "UPDATE drumbeat_invoice SET email_status = 'SENDING', email_error = {}"
            " WHERE id = {}", f"resending:{deadline:.3f}:gone", db_id(failed["id"])))
        if refused_now:
            busy = (await owner.data(RESEND_INVOICE, {"id": failed["id"]}))["invoiceResendEmail"]
            assert busy["errors"][0]["code"] == "INVALID_STATE"
            assert "right now" in busy["errors"][0]["message"]
            assert sink.messages(db_id(cid)) == first
    resent = (await owner.data(RESEND_INVOICE, {"id": failed["id"]}))["invoiceResendEmail"]
    assert resent["errors"] == []
    invoice = resent["invoice"]
    assert (invoice["emailStatus"], invoice["emailError"], invoice["number"]) == (
        "SENT", "", failed["number"])
    expected = await _first_key(server, "drumbeat_invoice", failed["id"])
    assert invoice["messageId"] == expected
    messages = [m for m in sink.messages(db_id(cid)) if m.rcpt_to[0] == flaky]
    assert len(messages) == 1 and messages[0].message_id == expected
    assert failed["number"] in messages[0].message["Subject"]
    assert "393.78" in messages[0].body_text()
    html = messages[0].message.get_body(("html",)).get_content()
    assert html.replace("\r\n", "\n").strip() == failed["document"].strip()  # as issued
    await assert_gapless(server)
    assert len(await invoices_of(api, cid)) == 2

    for doc in (failed, sent):  # SENT: refused, nothing more is sent
        again = (await owner.data(RESEND_INVOICE, {"id": doc["id"]}))["invoiceResendEmail"]
        assert again["invoice"] is None and again["errors"][0]["code"] == "INVALID_STATE"
        assert "emailed already" in again["errors"][0]["message"]
    assert len(sink.messages(db_id(cid))) == 2
    entries = await _audit(api, cid, "invoice.email_resent")
    assert len(entries) == 2 and all(e["member"]["id"] == owner_id for e in entries)
    changes = [{c["field"]: c["new"] for c in e["changes"]} for e in entries]
    assert sorted(c["emailStatus"] for c in changes) == ["FAILED", "SENT"]
    assert all(c["invoice"] == failed["number"] and c["messageId"] == expected and
               c["to"] == flaky for c in changes)


async def test_offer_is_resent_and_documents_without_email_are_refused(make_server, sink):
    server = make_server(smtp_url=sink.url)
    api = await admin(server)
    _, sales = await _member(server, "SALES")
    tag = unique("reoffer")
    address = f"{tag}+flaky@example.org"
    sink.answer = FAILING
    cid = await campaign(api, "offer", {"items": LINES, "validForDays": 7,
                                        "subject": "Offer for {{ recipient.name }}"})
    quiet = await campaign(api, "offer", {"items": LINES}, send_emails=False)
    ids = await companies(api, [address])
    await launch(api, cid, ids)
    await launch(api, quiet, ids)
    assert (await completed(api, cid))["done"] == 1
    assert (await completed(api, quiet))["done"] == 1
    [offer] = [e["node"] for e in
               (await api.data(OFFERS, {"f": {"campaignId": cid}}))["offers"]["edges"]]
    assert offer["emailStatus"] == "FAILED"

    sink.answer = None
    resent = (await sales.data(RESEND_OFFER, {"id": offer["id"]}))["offerResendEmail"]
    assert resent["errors"] == [] and resent["offer"]["emailStatus"] == "SENT"
    expected = await _first_key(server, "drumbeat_offer", offer["id"])
    assert resent["offer"]["messageId"] == expected
    [message] = sink.wait_for(db_id(cid), 1)
    assert message.message_id == expected and message.rcpt_to == (address,)
    assert message.message["Subject"] == "Offer for Acme 0"
    assert len(await _audit(api, cid, "offer.email_resent")) == 1

    [unsent] = [e["node"] for e in
                (await api.data(OFFERS, {"f": {"campaignId": quiet}}))["offers"]["edges"]]
    assert unsent["emailStatus"] == "NOT_SENT"
    refused = (await sales.data(RESEND_OFFER, {"id": unsent["id"]}))["offerResendEmail"]
    assert refused["offer"] is None and refused["errors"][0]["code"] == "INVALID_STATE"
    assert "sendEmails is off" in refused["errors"][0]["message"]
    assert sink.messages(db_id(quiet)) == []
    wrong = (await sales.data(RESEND_OFFER, {"id": str(relay.GlobalID("Invoice", "1"))}))
    assert wrong["offerResendEmail"]["errors"][0]["field"] == ["id"]


async def test_suppressed_address_and_cancelled_invoice_are_not_resent(make_server, sink):
    """A hard bounce on a resend suppresses the address; the next resend is refused without
    any SMTP traffic. A cancelled invoice is refused too."""
    server = make_server(smtp_url=sink.url)
    api = await admin(server)
    tag = unique("resup")
    bouncing, cancelled = f"{tag}-0+flaky@example.org", f"{tag}-1+flaky@example.org"
    sink.answer = FAILING
    cid = await campaign(api, "invoice", {"lines": LINES})
    await launch(api, cid, await companies(api, [bouncing, cancelled]))
    assert (await completed(api, cid))["done"] == 2
    invoices = {i["recipientAddress"]: i for i in await invoices_of(api, cid)}
    assert {i["emailStatus"] for i in invoices.values()} == {"FAILED"}

    sink.answer = "550 5.1.1 mailbox unavailable"
    bounced = (await api.data(RESEND_INVOICE, {"id": invoices[bouncing]["id"]}))
    assert bounced["invoiceResendEmail"]["invoice"]["emailStatus"] == "FAILED"
    assert await server.call(server.platform.db.fetchval(
        "SELECT reason FROM drumbeat_suppression WHERE address = {}", bouncing)) == "HARD_BOUNCE"
    sink.answer = None
    refused = (await api.data(RESEND_INVOICE, {"id": invoices[bouncing]["id"]}))
    error = refused["invoiceResendEmail"]["errors"][0]
    assert error["code"] == "INVALID_STATE" and "suppression list" in error["message"]
    assert sink.messages(db_id(cid)) == []
    row = (await api.data(INVOICES, {"f": {"campaignId": cid}}))["invoices"]["edges"]
    assert {e["node"]["emailStatus"] for e in row} == {"FAILED"}  # unchanged by the refusal

    assert (await api.data(CANCEL, {"id": invoices[cancelled]["id"]}))[
        "invoiceCancel"]["invoice"]["status"] == "CANCELLED"
    no = (await api.data(RESEND_INVOICE, {"id": invoices[cancelled]["id"]}))
    assert no["invoiceResendEmail"]["errors"][0]["code"] == "INVALID_STATE"
    assert "cancelled" in no["invoiceResendEmail"]["errors"][0]["message"]
    assert sink.messages(db_id(cid)) == []
    await assert_gapless(server)


async def test_pending_invoice_is_resent_once_its_delivery_gave_up(make_server, sink):
    """451 on every attempt: the delivery gives up, the invoice stays PENDING with its
    number. While the delivery is claimed a resend is refused; once it is final, two
    resends at once send one email."""
    server = make_server(smtp_url=sink.url, max_attempts=2, retry_backoff_seconds=0.1)
    api = await admin(server)
    address = f"{unique('repend')}+flaky@example.org"
    sink.answer = "451 4.3.2 busy, try again later"
    cid = await campaign(api, "invoice", {"lines": LINES})
    await launch(api, cid, await companies(api, [address]))
    assert (await completed(api, cid))["failed"] == 1
    [invoice] = await invoices_of(api, cid)
    assert invoice["emailStatus"] == "PENDING" and invoice["status"] == "ISSUED"
    db = server.platform.db

    sink.answer = None
    await server.call(db.execute(  # as if a worker held it right now
        "UPDATE drumbeat_delivery SET state = 'claimed' WHERE id = {}", invoice["deliveryId"]))
    busy = (await api.data(RESEND_INVOICE, {"id": invoice["id"]}))["invoiceResendEmail"]
    assert busy["errors"][0]["code"] == "INVALID_STATE"
    assert "still sending" in busy["errors"][0]["message"]
    await server.call(db.execute(
        "UPDATE drumbeat_delivery SET state = 'failed' WHERE id = {}", invoice["deliveryId"]))

    both = await asyncio.gather(*(api.data(RESEND_INVOICE, {"id": invoice["id"]})
                                  for _ in range(2)))
    answers = [b["invoiceResendEmail"] for b in both]
    sent = [a for a in answers if a["errors"] == []]
    assert len(sent) == 1 and sent[0]["invoice"]["emailStatus"] == "SENT"
    [loser] = [a for a in answers if a["errors"]]
    assert loser["errors"][0]["code"] == "INVALID_STATE"
    [message] = sink.wait_for(db_id(cid), 1)
    assert message.message_id == await _first_key(server, "drumbeat_invoice", invoice["id"])
    assert invoice["number"] in message.message["Subject"]
    assert len(sink.messages(db_id(cid))) == 1  # both answers are in: nothing else comes
    await assert_gapless(server)
