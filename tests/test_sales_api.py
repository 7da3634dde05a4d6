"""The sales documents' mutations through the API: who may change them, the rules of each
(paid/cancelled invoices, closed opportunities, expired offers), bad input reported with
its field and nothing changed, audit entries; opportunities' owner strategies."""

from __future__ import annotations

from datetime import date, timedelta

from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import create_contacts, db_id
from tests.test_sales_plugin import (
    CREATE, LINES, OFFERS, OPPORTUNITIES, admin, campaign, companies, completed, invoices_of,
    launch,
)

MARK_PAID = """
mutation($id: ID!, $at: DateTime) { invoiceMarkPaid(id: $id, paidAt: $at) {
  invoice { id status paidAt } errors { field message code } } }"""
CANCEL = """
mutation($id: ID!, $reason: String!) { invoiceCancel(id: $id, reason: $reason) {
  invoice { id status cancelReason } errors { field message code } } }"""
MOVE = """
mutation($id: ID!, $stage: OpportunityStage!, $p: Int) {
  opportunityMoveStage(id: $id, stage: $stage, probability: $p) {
    opportunity { id stage probability stageHistory { stage probability } }
    errors { field message code } } }"""
ACCEPT = """
mutation($id: ID!) { offerAccept(id: $id) { offer { id status } errors { field message code } } }"""
DECLINE = """
mutation($id: ID!) { offerDecline(id: $id) { offer { id status } errors { field message code } } }"""
INVOICE = "query($id: ID!) { invoice(id: $id) { id status paidAt cancelReason } }"
AUDIT = """
query($id: ID!) { campaign(id: $id) { auditLog(first: 20) { edges { node { action } } } } }"""


async def _member(server, role: str) -> tuple[str, GraphQLClient]:
    member_id, token = await member_token(server, role)
    return str(relay.GlobalID("TeamMember", str(member_id))), GraphQLClient(server.url, token)


async def test_invoice_payment_and_cancellation_rules(server):
    api = await admin(server)
    owner_id, owner = await _member(server, "MARKETER")
    _, other = await _member(server, "MARKETER")
    _, sales = await _member(server, "SALES")
    cid = await campaign(api, "invoice", {"lines": LINES}, send_emails=False, owner=owner_id)
    await launch(api, cid, await companies(api, [f"{unique('pay')}-{i}@example.org"
                                                 for i in range(2)]))
    await completed(api, cid)
    first, second = await invoices_of(api, cid)

    refused = (await other.data(MARK_PAID, {"id": first["id"]}))["invoiceMarkPaid"]
    assert refused["invoice"] is None and refused["errors"][0]["code"] == "FORBIDDEN"
    future = (await owner.data(MARK_PAID, {"id": first["id"], "at": "2999-01-01T00:00:00Z"}))
    assert future["invoiceMarkPaid"]["errors"] == [
        {"field": ["paidAt"], "message": "The payment date cannot be in the future.",
         "code": "INVALID"}]
    assert (await api.data(INVOICE, {"id": first["id"]}))["invoice"]["status"] == "ISSUED"

    paid = (await owner.data(MARK_PAID, {"id": first["id"]}))["invoiceMarkPaid"]
    assert paid["errors"] == [] and paid["invoice"]["status"] == "PAID"
    again = (await sales.data(MARK_PAID, {"id": first["id"]}))["invoiceMarkPaid"]
    assert again["errors"] == [] and again["invoice"]["paidAt"] == paid["invoice"]["paidAt"]
    no_cancel = (await sales.data(CANCEL, {"id": first["id"], "reason": "oops"}))["invoiceCancel"]
    assert no_cancel["errors"][0]["code"] == "INVALID_STATE"

    blank = (await sales.data(CANCEL, {"id": second["id"], "reason": "  "}))["invoiceCancel"]
    assert blank["errors"][0]["field"] == ["reason"] and blank["errors"][0]["code"] == "REQUIRED"
    cancelled = (await sales.data(CANCEL, {"id": second["id"], "reason": "duplicate order"}))
    assert cancelled["invoiceCancel"]["invoice"]["status"] == "CANCELLED"
    late = (await owner.data(MARK_PAID, {"id": second["id"]}))["invoiceMarkPaid"]
    assert late["errors"][0]["code"] == "INVALID_STATE"
    assert (await api.data(INVOICE, {"id": second["id"]}))["invoice"] == {
        "id": second["id"], "status": "CANCELLED", "paidAt": None,
        "cancelReason": "duplicate order"}

    wrong = (await sales.data(MARK_PAID, {"id": cid}))["invoiceMarkPaid"]
    assert wrong["errors"][0]["field"] == ["id"]
    actions = [e["node"]["action"] for e in
               (await api.data(AUDIT, {"id": cid}))["campaign"]["auditLog"]["edges"]]
    assert actions.count("invoice.paid") == 1 and actions.count("invoice.cancelled") == 1


async def test_money_with_three_decimals_is_refused_with_its_path(server):
    api = await admin(server)
    bad = [{"description": "x", "unitPrice": "10.005"}, {"description": "y", "unitPrice": 1.5}]
    data = await api.data(CREATE, {"input": {"name": unique("Bad"), "action": {
        "type": "invoice", "config": {"lines": bad, "currency": "eur"}}}})
    errors = data["campaignCreate"]["errors"]
    fields = {tuple(e["field"]): e for e in errors}
    assert ("input", "action", "config", "lines", "0", "unitPrice") in fields
    assert "more than 2 decimal places" in fields[
        ("input", "action", "config", "lines", "0", "unitPrice")]["message"]
    assert ("input", "action", "config", "lines", "1", "unitPrice") in fields  # a float
    assert ("input", "action", "config", "currency") in fields
    assert all(e["code"] == "INVALID_CONFIG" for e in errors)
    assert data["campaignCreate"]["campaign"] is None


async def test_opportunities_get_their_owner_and_move_through_stages(server):
    api = await admin(server)
    owner_id, owner = await _member(server, "MARKETER")
    sales_id, sales = await _member(server, "SALES")
    _, other = await _member(server, "MARKETER")
    tag = unique("opp")
    contacts = await create_contacts(api, [
        {"email": f"{tag}-0@example.org", "firstName": "Ann", "ownerId": sales_id},
        {"email": f"{tag}-1@example.org", "firstName": "Bob"}])
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_contact SET owner = NULL WHERE id = {}", db_id(contacts[1])))
    cid = await campaign(api, "opportunity", {
        "title": "Renewal {{ contact.first_name }}", "stage": "QUALIFICATION",
        "value": "1500.00", "currency": "EUR", "owner": "CONTACT_OWNER",
        "expectedCloseInDays": 30}, dispatch="CONTACT", owner=owner_id)
    await launch(api, cid, contact_ids=contacts)
    assert (await completed(api, cid))["done"] == 2
    edges = (await api.data(OPPORTUNITIES, {"f": {"campaignId": cid}}))["opportunities"]["edges"]
    found = {e["node"]["title"]: e["node"] for e in edges}
    assert set(found) == {"Renewal Ann", "Renewal Bob"}
    assert found["Renewal Ann"]["owner"]["id"] == sales_id
    assert found["Renewal Bob"]["owner"]["id"] == owner_id  # nobody owns Bob: the campaign's
    ann = found["Renewal Ann"]
    assert (ann["stage"], ann["value"], ann["probability"]) == ("QUALIFICATION", "1500.00", 25)

    refused = (await other.data(MOVE, {"id": ann["id"], "stage": "PROPOSAL"}))
    assert refused["opportunityMoveStage"]["errors"][0]["code"] == "FORBIDDEN"
    bad = (await sales.data(MOVE, {"id": ann["id"], "stage": "PROPOSAL", "p": 140}))
    assert bad["opportunityMoveStage"]["errors"][0]["field"] == ["probability"]
    moved = (await sales.data(MOVE, {"id": ann["id"], "stage": "PROPOSAL", "p": 60}))
    assert moved["opportunityMoveStage"]["opportunity"]["stageHistory"] == [
        {"stage": "QUALIFICATION", "probability": 25}, {"stage": "PROPOSAL", "probability": 60}]
    won = (await owner.data(MOVE, {"id": ann["id"], "stage": "WON"}))["opportunityMoveStage"]
    assert (won["opportunity"]["stage"], won["opportunity"]["probability"]) == ("WON", 100)
    closed = (await owner.data(MOVE, {"id": ann["id"], "stage": "NEGOTIATION"}))
    assert closed["opportunityMoveStage"]["errors"][0]["code"] == "INVALID_STATE"
    edges = (await api.data(OPPORTUNITIES, {"f": {"campaignId": cid, "stage": "WON"}}))
    assert [e["node"]["id"] for e in edges["opportunities"]["edges"]] == [ann["id"]]


async def test_offers_are_accepted_declined_and_expire(server, smtp_sink):
    api = await admin(server)
    _, other = await _member(server, "MARKETER")
    _, sales = await _member(server, "SALES")
    addresses = [f"{unique('offer')}-{i}@example.org" for i in range(3)]
    cid = await campaign(api, "offer", {"items": LINES, "validForDays": 7})
    await launch(api, cid, await companies(api, addresses))
    assert (await completed(api, cid))["done"] == 3
    offers = [e["node"] for e in
              (await api.data(OFFERS, {"f": {"campaignId": cid}}))["offers"]["edges"]]
    assert [o["emailStatus"] for o in offers] == ["SENT"] * 3
    assert sorted(m.rcpt_to[0] for m in smtp_sink.wait_for(db_id(cid), 3)) == sorted(addresses)
    a, b, c = offers

    assert (await other.data(ACCEPT, {"id": a["id"]}))["offerAccept"]["errors"][0]["code"] \
        == "FORBIDDEN"
    assert (await sales.data(ACCEPT, {"id": a["id"]}))["offerAccept"]["offer"]["status"] \
        == "ACCEPTED"
    assert (await sales.data(DECLINE, {"id": a["id"]}))["offerDecline"]["errors"][0]["code"] \
        == "INVALID_STATE"
    assert (await sales.data(DECLINE, {"id": b["id"]}))["offerDecline"]["offer"]["status"] \
        == "DECLINED"

    await server.call(server.platform.db.execute(  # c's validity ended yesterday
        "UPDATE drumbeat_offer SET valid_until = {} WHERE id = {}",
        date.today() - timedelta(days=1),
        db_id(c["id"])))
    expired = (await sales.data(ACCEPT, {"id": c["id"]}))["offerAccept"]
    assert expired["offer"] is None and expired["errors"][0]["code"] == "INVALID_STATE"
    assert "expired" in expired["errors"][0]["message"]
    listed = (await api.data(OFFERS, {"f": {"campaignId": cid, "status": "EXPIRED"}}))
    assert [e["node"]["id"] for e in listed["offers"]["edges"]] == [c["id"]]
