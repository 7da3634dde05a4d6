"""The ``sales`` plugin end to end, through the API with a real SMTP server: invoices
numbered without gaps per year (also under retries, chunks delivered twice and concurrent
issuing), totals, emails carrying the number, sendEmails off, offers and opportunities."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta

from drumbeat.platform import ledger
from drumbeat.plugins.sales.config import Line
from drumbeat.plugins.sales.money import totals
from drumbeat.plugins.sales.numbering import InvoiceDraft, issue_invoices
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import CAMPAIGN, create_contacts, db_id, launch_campaign
from tests.support.smtp import SmtpSink

LINES = [{"description": "Consulting day", "quantity": "2", "unitPrice": "120.50",
          "taxRate": "19"},
         {"description": "Licence", "unitPrice": "99.99", "taxRate": "7"}]
# 2 × 120.50 = 241.00, tax 45.79; 99.99, tax 6.9993 → 7.00: net 340.99, tax 52.79, gross 393.78
NET, TAX, GROSS = "340.99", "52.79", "393.78"

CREATE = """
mutation($input: CampaignCreateInput!) {
  campaignCreate(input: $input) { campaign { id } errors { field message code } }
}"""
COMPANY = """
mutation($input: CompanyInput!) { companyCreate(input: $input) { company { id } errors { message } } }
"""
RECIPIENTS = """
mutation($c: ID!, $companies: [ID!], $contacts: [ID!]) {
  campaignRecipientsAdd(campaignId: $c, companyIds: $companies, contactIds: $contacts) {
    added errors { field message code } } }"""
INVOICES = """
query($f: InvoiceFilter) { invoices(filter: $f, first: 100) { edges { node {
  id number year sequence net tax gross currency status emailStatus emailError document
  recipientAddress targetId deliveryId issueDate dueDate
  lines { description quantity unitPrice taxRate net tax } } } } }"""
OFFERS = """
query($f: OfferFilter) { offers(filter: $f, first: 100) { edges { node {
  id gross validUntil status emailStatus document items { description net } } } } }"""
OPPORTUNITIES = """
query($f: OpportunityFilter) { opportunities(filter: $f, first: 100) { edges { node {
  id title stage value currency probability expectedClose owner { id }
  stageHistory { stage probability } } } } }"""


async def admin(server) -> GraphQLClient:
    return GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])


async def campaign(api, action: str, config: dict, send_emails: bool = True,
                   dispatch: str = "COMPANY", owner: str | None = None) -> str:
    data = await api.data(CREATE, {"input": {
        "name": unique(action.title()), "action": {"type": action, "config": config},
        "sendEmails": send_emails, "dispatchStrategy": dispatch,
        **({"ownerId": owner} if owner else {})}})
    assert data["campaignCreate"]["errors"] == [], data
    return data["campaignCreate"]["campaign"]["id"]


async def companies(api, addresses: list[str]) -> list[str]:
    ids = []
    for i, address in enumerate(addresses):
        data = await api.data(COMPANY, {"input": {"name": f"Acme {i}", "email": address}})
        ids.append(data["companyCreate"]["company"]["id"])
    return ids


async def launch(api, campaign_id: str, company_ids=(), contact_ids=()) -> None:
    added = (await api.data(RECIPIENTS, {"c": campaign_id, "companies": list(company_ids),
                                         "contacts": list(contact_ids)}))["campaignRecipientsAdd"]
    assert added["errors"] == [] and added["added"] == len(company_ids) + len(contact_ids)
    await launch_campaign(api, campaign_id)


async def completed(api, campaign_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = (await api.data(CAMPAIGN, {"id": campaign_id}))["campaign"]
        if state["state"] == "COMPLETED":
            return state["counters"]
        assert time.monotonic() < deadline, f"not completed in {timeout} s: {state}"
        await asyncio.sleep(0.05)


async def invoices_of(api, campaign_id: str) -> list[dict]:
    data = await api.data(INVOICES, {"f": {"campaignId": campaign_id}})
    return [e["node"] for e in data["invoices"]["edges"]]


async def assert_gapless(server) -> None:
    """Every year's invoice numbers are exactly 1..n, and the counter says n."""
    rows = await server.call(server.platform.db.fetch(
        "SELECT year, number FROM drumbeat_invoice ORDER BY year, number"))
    counters = {r["year"]: r["last_number"] for r in await server.call(server.platform.db.fetch(
        "SELECT year, last_number FROM drumbeat_invoice_counter"))}
    by_year: dict[int, list[int]] = {}
    for r in rows:
        by_year.setdefault(r["year"], []).append(r["number"])
    for year, numbers in by_year.items():
        assert numbers == list(range(1, len(numbers) + 1)), (year, numbers)
        assert counters[year] == len(numbers)


async def ledger_rows(server, campaign_id: str) -> list[dict]:
    return await server.call(server.platform.db.fetch(
        "SELECT id, campaign, step, address, state, attempts, last_error FROM drumbeat_delivery"
        " WHERE campaign = {} ORDER BY id", db_id(campaign_id)))


async def test_invoices_are_numbered_totalled_and_emailed(server, smtp_sink):
    api = await admin(server)
    tag = unique("inv")
    addresses = [f"{tag}-{i}@example.org" for i in range(3)]
    cid = await campaign(api, "invoice", {"lines": LINES, "currency": "EUR", "dueInDays": 14})
    await launch(api, cid, await companies(api, addresses))

    counters = await completed(api, cid)
    assert (counters["done"], counters["failed"], counters["total"]) == (3, 0, 3)
    invoices = await invoices_of(api, cid)
    assert len(invoices) == 3
    year = date.today().year
    for invoice in invoices:
        assert (invoice["net"], invoice["tax"], invoice["gross"]) == (NET, TAX, GROSS)
        assert invoice["number"] == f"{invoice['year']}-{invoice['sequence']:06d}"
        assert invoice["year"] == year and invoice["status"] == "ISSUED"
        assert invoice["emailStatus"] == "SENT"
        assert date.fromisoformat(invoice["dueDate"]) - date.fromisoformat(
            invoice["issueDate"]) == timedelta(days=14)
        assert invoice["lines"][0] == {"description": "Consulting day", "quantity": "2",
                                       "unitPrice": "120.50", "taxRate": "19", "net": "241.00",
                                       "tax": "45.79"}
        assert invoice["number"] in invoice["document"] and "393.78" in invoice["document"]
    sequences = sorted(i["sequence"] for i in invoices)
    assert sequences == list(range(sequences[0], sequences[0] + 3))  # consecutive
    await assert_gapless(server)

    messages = smtp_sink.wait_for(db_id(cid), 3)
    by_address = {m.rcpt_to[0]: m for m in messages}
    assert sorted(by_address) == sorted(addresses) and len(messages) == 3
    for invoice in invoices:
        message = by_address[invoice["recipientAddress"]]
        assert invoice["number"] in message.message["Subject"]
        assert invoice["number"] in message.body_text() and GROSS in message.body_text()
        html = message.message.get_body(("html",)).get_content()
        assert invoice["number"] in html


async def test_send_emails_off_makes_documents_without_smtp_traffic(server, smtp_sink):
    api = await admin(server)
    tag = unique("quiet")
    ids = await companies(api, [f"{tag}-{i}@example.org" for i in range(2)])
    invoice_campaign = await campaign(api, "invoice", {"lines": LINES}, send_emails=False)
    offer_campaign = await campaign(api, "offer", {"items": LINES, "validForDays": 10},
                                    send_emails=False)
    await launch(api, invoice_campaign, ids)
    await launch(api, offer_campaign, ids)

    assert (await completed(api, invoice_campaign))["done"] == 2
    counters = await completed(api, offer_campaign)
    assert counters["done"] == 2, str((counters, await ledger_rows(server, offer_campaign)))
    invoices = await invoices_of(api, invoice_campaign)
    assert [i["emailStatus"] for i in invoices] == ["NOT_SENT"] * 2
    assert all(i["gross"] == GROSS for i in invoices)
    offers = (await api.data(OFFERS, {"f": {"campaignId": offer_campaign}}))["offers"]["edges"]
    assert [(o["node"]["emailStatus"], o["node"]["status"], o["node"]["gross"]) for o in offers] \
        == [("NOT_SENT", "OPEN", GROSS)] * 2
    assert offers[0]["node"]["validUntil"] == (date.today() + timedelta(days=10)).isoformat()
    assert smtp_sink.messages(db_id(invoice_campaign)) == []
    assert smtp_sink.messages(db_id(offer_campaign)) == []
    await assert_gapless(server)


async def test_temporary_failure_keeps_the_number_and_failures_are_recorded(make_server,
                                                                           smtp_sink):
    """451 then success: one invoice, one number, attempts 2. 554: the invoice stands with
    email FAILED. 550: also suppressed. A suppressed address gets its invoice unsent."""
    server = make_server(retry_backoff_seconds=0.1)
    api = await admin(server)
    tag = unique("retry")
    addresses = [f"{tag}-0+tempfail@example.org", f"{tag}-1@example.org",
                 f"{tag}-2+policy@example.org", f"{tag}-3+reject@example.org"]
    cid = await campaign(api, "invoice", {"lines": LINES})
    await launch(api, cid, await companies(api, addresses))

    counters = await completed(api, cid)
    assert (counters["done"], counters["failed"], counters["total"]) == (4, 0, 4)
    attempts = {r["address"]: r["attempts"] for r in await ledger_rows(server, cid)}
    assert attempts[addresses[0]] == 2 and attempts[addresses[1]] == 1
    invoices = {i["recipientAddress"]: i for i in await invoices_of(api, cid)}
    assert len(invoices) == 4
    assert invoices[addresses[0]]["emailStatus"] == "SENT"
    assert invoices[addresses[2]]["emailStatus"] == "FAILED"
    assert "554" in invoices[addresses[2]]["emailError"]
    assert invoices[addresses[3]]["emailStatus"] == "FAILED"
    suppressed = await server.call(server.platform.db.fetchval(
        "SELECT reason FROM drumbeat_suppression WHERE address = {}", addresses[3]))
    assert suppressed == "HARD_BOUNCE"
    sequences = sorted(i["sequence"] for i in invoices.values())
    assert sequences == list(range(sequences[0], sequences[0] + 4))
    await assert_gapless(server)
    received = [m for m in smtp_sink.messages(db_id(cid))]
    assert sorted(m.rcpt_to[0] for m in received) == sorted(addresses[:2])
    retried = next(m for m in received if m.rcpt_to[0] == addresses[0])
    assert invoices[addresses[0]]["number"] in retried.message["Subject"]

    # The bounced address is suppressed now: a new invoice to it is made but not emailed.
    again = await campaign(api, "invoice", {"lines": LINES})
    company = await server.call(server.platform.db.fetchval(
        "SELECT id FROM drumbeat_company WHERE email = {}", addresses[3]))
    from strawberry import relay
    await launch(api, again, [str(relay.GlobalID("Company", str(company)))])
    counters = await completed(api, again)
    assert counters["skipped"] + counters["done"] == 1
    if counters["done"]:  # the launch may already skip it as BOUNCED
        [invoice] = await invoices_of(api, again)
        assert invoice["emailStatus"] == "SUPPRESSED"
    assert smtp_sink.messages(db_id(again)) == []
    await assert_gapless(server)


async def test_chunks_delivered_twice_make_one_invoice_each_without_gaps(make_server):
    sink = SmtpSink(delay=0.02).start()
    try:
        server = make_server(smtp_url=sink.url, chunk_size=5)
        api = await admin(server)
        tag = unique("twice")
        people = [{"email": f"{tag}-{i}@example.org", "firstName": f"P{i}"} for i in range(30)]
        contacts = await create_contacts(api, people)
        cid = await campaign(api, "invoice", {"lines": LINES}, dispatch="CONTACT")
        await launch(api, cid, contact_ids=contacts)
        chunks = ledger.chunks_of(await ledger_rows(server, cid), 5)
        assert len(chunks) == 6
        await server.call(server.platform.dispatch(chunks))
        await server.call(server.platform.dispatch(chunks))

        counters = await completed(api, cid)
        assert (counters["done"], counters["total"]) == (30, 30)
        invoices = await invoices_of(api, cid)
        assert len(invoices) == 30 and len({i["deliveryId"] for i in invoices}) == 30
        assert len({i["sequence"] for i in invoices}) == 30
        await assert_gapless(server)
        received: dict[str, int] = {}
        for m in sink.messages(db_id(cid)):
            received[m.rcpt_to[0]] = received.get(m.rcpt_to[0], 0) + 1
        assert received == {p["email"]: 1 for p in people}
    finally:
        sink.stop()


async def test_concurrent_issuing_keeps_numbers_unique_and_gapless(server):
    """Many transactions number invoices at once (a pool of connections on PostgreSQL),
    some for the same deliveries: each delivery gets one invoice, the year stays gapless."""
    sums = totals([Line.model_validate(line) for line in LINES])
    base = 10_000_000 + int(time.time() * 1000) % 1_000_000 * 100
    today = date.today()

    def draft(delivery: int) -> InvoiceDraft:
        return InvoiceDraft(delivery, 0, 0, "company", 1, "EUR", sums, today, today,
                            None, "NOT_SENT")

    async def issue(deliveries):
        return await issue_invoices(server.platform.db, [draft(d) for d in deliveries],
                                    lambda d, shown: f"<p>{shown}</p>")

    batches = [range(base + 3 * i, base + 3 * i + 3) for i in range(12)]
    batches += batches[:4]  # the same deliveries again, concurrently

    async def all_at_once():
        return await asyncio.gather(*(issue(b) for b in batches))

    results = await server.call(all_at_once())
    numbers = {}
    for result in results:
        for delivery, row in result.items():
            assert numbers.setdefault(delivery, row["number"]) == row["number"]
    assert len(numbers) == 36 and len(set(numbers.values())) == 36
    await assert_gapless(server)


async def test_two_campaigns_launched_at_once_share_one_gapless_sequence(make_server):
    server = make_server(chunk_size=3)
    api = await admin(server)
    tag = unique("pair")
    campaigns = []
    for n in range(2):
        people = [{"email": f"{tag}-{n}-{i}@example.org"} for i in range(10)]
        contacts = await create_contacts(api, people)
        cid = await campaign(api, "invoice", {"lines": LINES}, dispatch="CONTACT")
        added = (await api.data(RECIPIENTS, {"c": cid, "companies": [], "contacts": contacts}))
        assert added["campaignRecipientsAdd"]["added"] == 10
        campaigns.append(cid)
    await asyncio.gather(*(launch_campaign(api, cid) for cid in campaigns))

    numbers = []
    for cid in campaigns:
        assert (await completed(api, cid))["done"] == 10
        invoices = await invoices_of(api, cid)
        assert len(invoices) == 10 and all(i["emailStatus"] == "SENT" for i in invoices)
        numbers += [i["sequence"] for i in invoices]
    assert len(set(numbers)) == 20
    await assert_gapless(server)
