"""A campaign's audience over the API: recipients of every kind and from every source, the
audience preview, and a launch that records exactly the preview's resolution — senders,
personalisation and header safety included."""

from __future__ import annotations

import asyncio

from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import CAMPAIGN, LAUNCH, create_campaign, db_id, make_ready

COMPANY = """mutation($input: CompanyInput!) { companyCreate(input: $input) {
  company { id } errors { field message code } } }"""
LEAD = """mutation($input: LeadInput!) { leadCreate(input: $input) { lead { id } errors { code } } }"""
CONTACTS = """mutation($input: [ContactInput!]!) { contactsCreate(input: $input) {
  contacts { id email } errors { field message code } } }"""
ADD = """mutation($c: ID!, $contacts: [ID!], $companies: [ID!], $leads: [ID!], $segment: ID,
               $filter: SegmentFilter) {
  campaignRecipientsAdd(campaignId: $c, contactIds: $contacts, companyIds: $companies,
                        leadIds: $leads, segmentId: $segment, filter: $filter) {
    added alreadyPresent campaign { recipientCounts { contacts companies leads total } }
    errors { field message code } } }"""
REMOVE = """mutation($c: ID!, $contacts: [ID!]) {
  campaignRecipientsRemove(campaignId: $c, contactIds: $contacts) {
    removed notPresent errors { code } } }"""
UPDATE = """mutation($id: ID!, $input: CampaignUpdateInput!) {
  campaignUpdate(id: $id, input: $input) { errors { field message code } } }"""
PREVIEW = """query($id: ID!) { campaign(id: $id) { audiencePreview(first: 100) {
  addressed excluded byReason { reason count }
  targets { kind recipientKind address skipReason sender { email }
            party { __typename ... on Contact { id } ... on Company { id } ... on Lead { id } } }
} } }"""
TEMPLATE = {
    "subject": "For {{ contact.first_name or company.name }}",
    "text": "Hi {{ contact.full_name }} of {{ company.name }}|{{ lead.source }}|"
            "owner={{ owner.name }}|sender={{ sender.email }}|{{ contact.nothing.deeper }}",
}


async def _one(api: GraphQLClient, document: str, payload: str, variables: dict) -> dict:
    result = (await api.data(document, variables))[payload]
    assert result["errors"] == [], result
    return result


async def _audience(server, api: GraphQLClient, tag: str) -> dict:
    """Companies, contacts and a lead covering every dispatch case; Ana owns some of them."""
    ana_id, _ = await member_token(server, "MARKETER", name="Ana Owner")
    ana = relay.to_base64("TeamMember", ana_id)
    acme = (await _one(api, COMPANY, "companyCreate", {"input": {
        "name": f"Acme {tag}", "email": f"office-{tag}@acme.example", "ownerId": ana}}))["company"]["id"]
    nomail = (await _one(api, COMPANY, "companyCreate", {"input": {
        "name": f"Nomail {tag}"}}))["company"]["id"]
    people = [
        {"email": f"alice-{tag}@acme.example", "firstName": "Alice", "lastName": "A",
         "companyId": acme, "ownerId": ana, "tags": [tag]},
        {"email": f"carol-{tag}@home.example", "firstName": "Carol", "tags": [tag]},  # no company
        {"email": f"gone-{tag}@x.example", "firstName": "Gone", "tags": [tag]},
        {"email": f"denied-{tag}@x.example", "firstName": "Denied", "consent": "DENIED",
         "tags": [tag]},
        {"email": f"bob-{tag}@acme.example", "firstName": "Bob", "companyId": nomail},
    ]
    contacts = [c["id"] for c in (await _one(api, CONTACTS, "contactsCreate", {"input": people})
                                  )["contacts"]]
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_contact SET unsubscribed = {} WHERE id = {}", True, db_id(contacts[2])))
    await server.call(server.platform.db.execute(  # nobody owns Carol
        "UPDATE drumbeat_contact SET owner = NULL WHERE id = {}", db_id(contacts[1])))
    lead = (await _one(api, LEAD, "leadCreate", {"input": {
        "email": f"lead-{tag}@prospect.example", "firstName": "Leo", "companyName": "Prospect Ltd",
        "source": "fair", "ownerId": ana}}))["lead"]["id"]
    return {"acme": acme, "nomail": nomail, "contacts": contacts, "lead": lead}


async def test_recipients_from_every_source_and_their_counts(server, admin_api):
    tag = unique("aud").replace("-", "")
    audience = await _audience(server, admin_api, tag)
    campaign = await create_campaign(admin_api, f"Audience {tag}")
    by_tag = await _one(admin_api, ADD, "campaignRecipientsAdd", {
        "c": campaign, "filter": {"tags": {"match": "ANY", "tags": [tag]}}})
    assert (by_tag["added"], by_tag["alreadyPresent"]) == (4, 0)
    more = await _one(admin_api, ADD, "campaignRecipientsAdd", {
        "c": campaign, "contacts": audience["contacts"][:2] + audience["contacts"][4:],
        "companies": [audience["nomail"]], "leads": [audience["lead"]]})
    assert (more["added"], more["alreadyPresent"]) == (3, 2)
    assert more["campaign"]["recipientCounts"] == {"contacts": 5, "companies": 1, "leads": 1,
                                                   "total": 7}
    listed = (await admin_api.data("""query($id: ID!) { campaign(id: $id) {
      companies: recipients(kind: COMPANY, first: 10) { edges { node { kind party {
        ... on Company { id } } } } }
      people: recipients(kind: CONTACT, first: 2) { edges { node { party { ... on Contact { id } } } }
                                                   pageInfo { hasNextPage } } } }""",
                                    {"id": campaign}))["campaign"]
    assert [e["node"]["party"]["id"] for e in listed["companies"]["edges"]] == [audience["nomail"]]
    assert len(listed["people"]["edges"]) == 2 and listed["people"]["pageInfo"]["hasNextPage"]
    removed = (await admin_api.data(REMOVE, {"c": campaign, "contacts": audience["contacts"][4:]})
               )["campaignRecipientsRemove"]
    assert (removed["removed"], removed["notPresent"], removed["errors"]) == (1, 0, [])

    bad = (await admin_api.data(ADD, {"c": campaign, "contacts": [
        audience["contacts"][0], relay.to_base64("Contact", 987654321)],
        "leads": [relay.to_base64("Lead", 987654321), audience["lead"]]}))["campaignRecipientsAdd"]
    assert sorted((tuple(e["field"]), e["code"]) for e in bad["errors"]) == [
        (("contactIds", "1"), "NOT_FOUND"), (("leadIds", "0"), "NOT_FOUND")]
    wrong_type = (await admin_api.data(ADD, {"c": campaign, "leads": [audience["acme"]]})
                  )["campaignRecipientsAdd"]
    assert [(e["field"], e["code"]) for e in wrong_type["errors"]] == [(["leadIds", "0"], "INVALID")]
    assert bad["added"] == wrong_type["added"] == 0
    nothing = (await admin_api.data(ADD, {"c": campaign}))["campaignRecipientsAdd"]
    assert [e["code"] for e in nothing["errors"]] == ["REQUIRED"]


async def test_recipients_by_segment_and_by_list(server, admin_api):
    tag = unique("seglist").replace("-", "")
    audience = await _audience(server, admin_api, tag)
    segment = (await _one(admin_api, """mutation($input: SegmentCreateInput!) {
      segmentCreate(input: $input) { segment { id count } errors { field message code } } }""",
        "segmentCreate", {"input": {"name": f"Tagged {tag}",
                                    "filter": {"tags": {"match": "ANY", "tags": [tag]}}}}))["segment"]
    assert segment["count"] == 4
    listed = (await _one(admin_api, """mutation($input: ListCreateInput!) {
      listCreate(input: $input) { list { id memberCount } errors { field message code } } }""",
        "listCreate", {"input": {"name": f"List {tag}", "segmentId": segment["id"]}}))["list"]
    await _one(admin_api, """mutation($l: ID!, $ids: [ID!]!) {
      listMembersExclude(listId: $l, contactIds: $ids) { errors { code } } }""",
        "listMembersExclude", {"l": listed["id"], "ids": audience["contacts"][:1]})
    by_list = await create_campaign(admin_api, f"By list {tag}")
    added = await _one(admin_api, """mutation($c: ID!, $l: ID) {
      campaignRecipientsAdd(campaignId: $c, listId: $l) { added errors { code } } }""",
        "campaignRecipientsAdd", {"c": by_list, "l": listed["id"]})
    assert added["added"] == 3, "the excluded member is not added"
    by_segment = await create_campaign(admin_api, f"By segment {tag}")
    added = await _one(admin_api, ADD, "campaignRecipientsAdd",
                       {"c": by_segment, "segment": segment["id"]})
    assert added["added"] == 4
    bad = (await admin_api.data(ADD, {"c": by_segment, "filter": {"field": {
        "field": "BIRTH_DATE", "op": "CONTAINS", "value": "x"}}}))["campaignRecipientsAdd"]
    assert bad["errors"] and bad["errors"][0]["field"][0] == "filter", bad


async def test_the_launch_records_exactly_what_the_preview_showed(server, admin_api, smtp_sink):
    tag = unique("disp").replace("-", "")
    audience = await _audience(server, admin_api, tag)
    campaign = await create_campaign(admin_api, f"Dispatch {tag}", config=TEMPLATE)
    await _one(admin_api, UPDATE, "campaignUpdate", {"id": campaign, "input": {
        "dispatchStrategy": "BOTH", "senderStrategy": "CONTACT_OWNER"}})
    await _one(admin_api, ADD, "campaignRecipientsAdd", {
        "c": campaign, "contacts": audience["contacts"],
        "companies": [audience["acme"], audience["nomail"]], "leads": [audience["lead"]]})
    await server.call(server.platform.db.execute(
        "INSERT INTO drumbeat_suppression (address, reason, note, created_at)"
        " VALUES ({}, 'MANUAL', '', CURRENT_TIMESTAMP)", f"bob-{tag}@acme.example"))

    preview = (await admin_api.data(PREVIEW, {"id": campaign}))["campaign"]["audiencePreview"]
    shown = {(t["kind"], t["party"]["id"], t["skipReason"]) for t in preview["targets"]}
    alice, carol, gone, denied, bob = audience["contacts"]
    me = (await admin_api.data("{ me { email } }"))["me"]["email"]
    assert shown == {
        ("CONTACT", alice, None), ("COMPANY", audience["acme"], None),
        ("CONTACT", carol, None),  # no company: the person only under BOTH
        ("CONTACT", gone, "UNSUBSCRIBED"), ("CONTACT", denied, "NO_CONSENT"),
        ("CONTACT", bob, "SUPPRESSED"),  # Bob's company has no general address
        ("COMPANY", audience["acme"], "DUPLICATE"),  # Acme again, as a recipient itself
        ("CONTACT", alice, "DUPLICATE"),  # Alice again, as Acme's staff
        ("CONTACT", bob, "SUPPRESSED"),  # Bob again, as Nomail's staff
        ("LEAD", audience["lead"], None),
    }
    assert (preview["addressed"], preview["excluded"]) == (4, 6)
    senders = {(t["kind"], t["party"]["id"]): t["sender"]["email"] for t in preview["targets"]
               if t["skipReason"] is None}
    assert senders[("CONTACT", carol)] == me, "nobody owns Carol: the campaign's owner sends"
    assert senders[("CONTACT", alice)] == senders[("LEAD", audience["lead"])] != me

    await make_ready(admin_api, campaign)
    assert (await admin_api.data(LAUNCH, {"id": campaign}))["campaignLaunch"]["errors"] == []
    rows = await server.call(server.platform.db.fetch(
        "SELECT target_kind, target_id, state, skip_reason FROM drumbeat_delivery"
        " WHERE campaign = {} ORDER BY id", db_id(campaign)))
    recorded = {(r["target_kind"].upper(), relay.to_base64(r["target_kind"].title(), r["target_id"]),
                 r["skip_reason"]) for r in rows}
    assert recorded == shown and len(rows) == len(preview["targets"])

    received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 4, 30)
    by_rcpt = {m.rcpt_to[0]: m for m in received}
    assert set(by_rcpt) == {f"alice-{tag}@acme.example", f"office-{tag}@acme.example",
                            f"carol-{tag}@home.example", f"lead-{tag}@prospect.example"}
    office = by_rcpt[f"office-{tag}@acme.example"]
    assert office.message["Subject"] == f"For Acme {tag}"
    assert office.message["To"] == f"Acme {tag} <office-{tag}@acme.example>"
    assert "owner=Ana Owner|" in office.body_text()
    lead = by_rcpt[f"lead-{tag}@prospect.example"].body_text()
    assert lead.startswith("Hi Leo of Prospect Ltd|fair|owner=Ana Owner|sender=")
    carol_text = by_rcpt[f"carol-{tag}@home.example"].body_text()
    assert carol_text.startswith(f"Hi Carol of ||owner=|sender={me}|"), carol_text
    alice_msg = by_rcpt[f"alice-{tag}@acme.example"]
    assert alice_msg.message["From"].endswith(f"<{senders[('CONTACT', alice)]}>")
    assert alice_msg.message["Reply-To"] == alice_msg.message["From"]
    state = (await admin_api.data(CAMPAIGN, {"id": campaign}))["campaign"]
    assert state["counters"]["skipped"] == 6


async def test_contact_data_can_never_inject_a_header(server, admin_api, smtp_sink):
    """Bad data is refused at the door; data that got in anyway fails its own delivery."""
    tag = unique("inject").replace("-", "")
    refused = (await admin_api.data(CONTACTS, {"input": [
        {"email": f"eve-{tag}@x.example", "firstName": "Eve\r\nBcc: evil@x.example"}]})
    )["contactsCreate"]
    assert [e["field"][-1] for e in refused["errors"]] == ["firstName"]
    ok = (await _one(admin_api, CONTACTS, "contactsCreate", {"input": [
        {"email": f"eve-{tag}@x.example", "firstName": "Eve"},
        {"email": f"fine-{tag}@x.example", "firstName": "Fine"}]}))["contacts"]
    for separator in ("\r\nBcc: evil@x.example", "\u2028Bcc: evil@x.example"):
        await server.call(server.platform.db.execute(  # as if imported by an older version
            "UPDATE drumbeat_contact SET first_name = {} WHERE id = {}", "Eve" + separator,
            db_id(ok[0]["id"])))
        campaign = await create_campaign(admin_api, f"Inject {tag} {len(separator)}",
                                         config={"subject": "Hi {{ contact.first_name }}",
                                                 "text": "x"})
        await _one(admin_api, ADD, "campaignRecipientsAdd", {
            "c": campaign, "contacts": [c["id"] for c in ok]})
        await make_ready(admin_api, campaign)
        await admin_api.data(LAUNCH, {"id": campaign})
        received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 1, 30)
        assert [m.rcpt_to for m in received] == [(f"fine-{tag}@x.example",)]
        for _ in range(200):
            rows = await server.call(server.platform.db.fetch(
                "SELECT address, state, last_error FROM drumbeat_delivery WHERE campaign = {}",
                db_id(campaign)))
            if all(r["state"] in ("done", "failed") for r in rows):
                break
            await asyncio.sleep(0.05)
        eve = next(r for r in rows if r["address"].startswith("eve-"))
        assert eve["state"] == "failed" and "unsafe header" in eve["last_error"]
    assert all("evil@x.example" not in m.rcpt_to for m in smtp_sink.messages())
