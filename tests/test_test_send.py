"""Test send (``campaignTestSend``) through the API and the aiosmtpd sink: one step rendered
for one recipient arrives at the given address marked "[Test] ", without tracking, and
nothing is written to the ledger."""

from __future__ import annotations

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import add_recipients, create_campaign, create_contacts, db_id

TEST_SEND = """
mutation($input: CampaignTestSendInput!) {
  campaignTestSend(input: $input) { sent error messageId errors { field message code } }
}"""
HTML = ('<html><body><p>Hi {{ contact.first_name }} from {{ company.name }}, '
        '<a href="https://shop.example/new">new things</a>.</p></body></html>')
EMAIL = {"subject": "News for {{ contact.first_name }}",
         "text": "Dear {{ contact.first_name }} {{ contact.last_name }}", "html": HTML}


async def _setup(server) -> tuple[GraphQLClient, str, list[str]]:
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    tag = unique("test-send")
    contacts = await create_contacts(api, [
        {"email": f"{tag}-{i}@example.org", "firstName": name, "lastName": "Proof"}
        for i, name in enumerate(("Ada", "Bob"))])
    campaign = await create_campaign(api, unique("TestSend"), EMAIL)
    assert (await add_recipients(api, campaign, contacts[:1]))["added"] == 1
    return api, campaign, contacts


async def _send(api, **input) -> dict:
    return (await api.data(TEST_SEND, {"input": input}))["campaignTestSend"]


async def _written(server, campaign: str) -> tuple:
    db = server.platform.db
    return (await server.call(db.fetchval(
                "SELECT count(*) FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign))),
            await server.call(db.fetchval("SELECT count(*) FROM drumbeat_tracked_link")),
            await server.call(db.fetchval("SELECT count(*) FROM drumbeat_suppression")))


async def test_a_test_send_arrives_marked_without_tracking_and_records_nothing(server, smtp_sink):
    api, campaign, contacts = await _setup(server)
    before = await _written(server, campaign)
    to = f"{unique('reviewer')}@example.org"

    result = await _send(api, campaignId=campaign, to=to)  # the first recipient, first step
    assert (result["sent"], result["error"], result["errors"]) == (True, None, [])
    [message] = [m for m in smtp_sink.messages(db_id(campaign)) if m.rcpt_to == (to,)]
    assert message.message_id == result["messageId"]
    assert message.message["Subject"] == "[Test] News for Ada"
    assert message.message["To"].addresses[0].addr_spec == to
    assert "Dear Ada Proof" in message.body_text()
    assert message.message["List-Unsubscribe"] is None
    html = message.message.get_body(("html",)).get_content()
    assert 'href="https://shop.example/new"' in html and "/t/" not in html and "<img" not in html

    # Another contact (not even a recipient) personalises a second test.
    other = await _send(api, campaignId=campaign, to=to, recipient=contacts[1])
    assert other["sent"] is True and other["messageId"] != result["messageId"]
    [second] = [m for m in smtp_sink.messages(db_id(campaign))
                if m.message_id == other["messageId"]]
    assert second.message["Subject"] == "[Test] News for Bob"

    assert await _written(server, campaign) == before  # no ledger row, link or suppression
    audit = await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_audit_entry WHERE campaign_id = {}"
        " AND action = 'campaign.test_send'", db_id(campaign)))
    assert audit == 2


async def test_a_refused_address_is_reported_not_suppressed(server, smtp_sink):
    api, campaign, _ = await _setup(server)
    before = await _written(server, campaign)
    result = await _send(api, campaignId=campaign, to=f"{unique('gone')}+reject@example.org")
    assert result["sent"] is False and result["errors"] == []
    assert "550" in result["error"]
    assert await _written(server, campaign) == before


async def test_bad_input_and_permissions(server, smtp_sink):
    api, campaign, contacts = await _setup(server)
    _, token = await member_token(server, "MARKETER")
    to = f"{unique('reviewer')}@example.org"
    cases = [
        (api, {"to": "a@example.org\r\nBcc: b@evil.example"}, [(["input", "to"], "INVALID")]),
        (api, {"to": "a@example.org, b@example.org"}, [(["input", "to"], "INVALID")]),
        (api, {"to": ""}, [(["input", "to"], "REQUIRED")]),
        (api, {"to": to, "stepId": 2**31 - 1}, [(["input", "stepId"], "NOT_FOUND")]),
        (api, {"to": to, "recipient": campaign}, [(["input", "recipient"], "INVALID")]),
        (api.as_(token), {"to": to}, [(None, "FORBIDDEN")]),
        (api.as_(None), {"to": to}, [(None, "UNAUTHENTICATED")]),
    ]
    for client, given, expected in cases:
        result = await _send(client, campaignId=campaign, **given)
        assert [(e["field"], e["code"]) for e in result["errors"]] == expected, (given, result)
        assert result["sent"] is False
    assert smtp_sink.messages(db_id(campaign)) == []

    empty = await create_campaign(api, unique("Empty"), EMAIL)
    result = await _send(api, campaignId=empty, to=to)
    assert [(e["field"], e["code"]) for e in result["errors"]] == \
        [(["input", "recipient"], "NO_RECIPIENTS")]
    chosen = await _send(api, campaignId=empty, to=to, recipient=contacts[0])
    assert chosen["sent"] is True  # any campaign state, even without an audience
