"""Templates: CRUD with permissions, validation, the sandbox and its limits, the preview,
``Campaign.template``, and an email campaign sending with its template over real SMTP."""

from __future__ import annotations

import asyncio

import pytest

from strawberry.relay import GlobalID

from drumbeat import CampaignInfo, Sender, TemplateContent
from drumbeat.platform.campaign_info import check_launch
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.tables import Company, Contact, WorkflowAction
from drumbeat.platform.team import now
from drumbeat.platform.templating import MAX_SOURCE_CHARS, TemplateProblem, TemplateRenderer
from drumbeat.plugins.email.action import EmailAction, EmailConfig
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import (
    CAMPAIGN_CREATE, add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
)

FIELDS = "id name kind subject text html owner { id }"
CREATE = f"""
mutation($input: TemplateCreateInput!) {{
  templateCreate(input: $input) {{ template {{ {FIELDS} }} errors {{ field message code }} }}
}}"""
UPDATE = f"""
mutation($id: ID!, $input: TemplateUpdateInput!) {{
  templateUpdate(id: $id, input: $input) {{ template {{ {FIELDS} }} errors {{ field message code }} }}
}}"""
DELETE = """
mutation($id: ID!) { templateDelete(id: $id) { deletedId errors { field message code } } }"""
TEMPLATE = f"query($id: ID!) {{ template(id: $id) {{ {FIELDS} }} }}"
NODE = "query($id: ID!) { node(id: $id) { __typename ... on Template { name kind } } }"
TEMPLATES = """
query($kind: TemplateKind, $first: Int, $after: String) {
  templates(kind: $kind, first: $first, after: $after) {
    edges { node { id name kind } } pageInfo { hasNextPage endCursor }
  }
}"""
PREVIEW = """
query($t: ID!, $c: ID!, $campaign: ID) {
  templatePreview(templateId: $t, contactId: $c, campaignId: $campaign) {
    subject text html errors { field message code }
  }
}"""
CAMPAIGN_TEMPLATE = "query($id: ID!) { campaign(id: $id) { template { id name } } }"
CAMPAIGN_UPDATE = """
mutation($id: ID!, $input: CampaignUpdateInput!) {
  campaignUpdate(id: $id, input: $input) { campaign { template { id } } errors { field code } }
}"""

EMAIL = {"kind": "EMAIL", "subject": "Hi {{ contact.first_name }}",
         "text": "Dear {{ contact.first_name }} of {{ company.name }}, from {{ sender.name }}.",
         "html": "<p>Dear {{ contact.first_name }} &amp; {{ campaign.name }}</p>"}


async def _create(api: GraphQLClient, **fields) -> dict:
    data = await api.data(CREATE, {"input": {"name": unique("tpl"), **EMAIL, **fields}})
    return data["templateCreate"]


async def _template(api: GraphQLClient, **fields) -> dict:
    payload = await _create(api, **fields)
    assert payload["errors"] == [], payload
    return payload["template"]


def _codes(errors: list[dict]) -> dict[tuple, str]:
    return {tuple(e["field"] or ()): e["code"] for e in errors}


# --- permissions ---------------------------------------------------------------------------

async def test_marketers_and_admins_create_owners_and_admins_change(server, admin_api):
    _, marketer = await member_token(server, "MARKETER")
    _, other = await member_token(server, "MARKETER")
    _, sales = await member_token(server, "SALES")
    owner_api = admin_api.as_(marketer)

    created = await _template(owner_api)
    assert created["kind"] == "EMAIL" and created["subject"] == EMAIL["subject"]
    refused = await _create(admin_api.as_(sales))
    assert (refused["template"], _codes(refused["errors"])) == (None, {(): "FORBIDDEN"})
    anonymous = await _create(admin_api.as_(None))
    assert _codes(anonymous["errors"]) == {(): "UNAUTHENTICATED"}

    for token, code in ((other, "FORBIDDEN"), (sales, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        for document, variables in ((UPDATE, {"id": created["id"], "input": {"text": "x"}}),
                                    (DELETE, {"id": created["id"]})):
            data = await admin_api.as_(token).data(document, variables)
            payload = next(iter(data.values()))
            assert _codes(payload["errors"]) == {(): code}
    unchanged = await admin_api.data(TEMPLATE, {"id": created["id"]})
    assert unchanged["template"]["text"] == EMAIL["text"]

    by_owner = await owner_api.data(UPDATE, {"id": created["id"], "input": {"text": "Owner"}})
    assert by_owner["templateUpdate"]["template"]["text"] == "Owner"
    by_admin = await admin_api.data(UPDATE, {"id": created["id"], "input": {"html": None}})
    assert by_admin["templateUpdate"]["errors"] == []
    assert by_admin["templateUpdate"]["template"]["html"] == ""

    anonymous_read = await admin_api.as_(None).execute(TEMPLATE, {"id": created["id"]})
    assert anonymous_read["errors"] and (anonymous_read["data"] or {}).get("template") is None
    read = await admin_api.as_(sales).data(NODE, {"id": created["id"]})
    assert read["node"] == {"__typename": "Template", "name": created["name"], "kind": "EMAIL"}

    deleted = await owner_api.data(DELETE, {"id": created["id"]})
    assert deleted["templateDelete"] == {"deletedId": created["id"], "errors": []}
    assert (await admin_api.data(TEMPLATE, {"id": created["id"]}))["template"] is None


async def test_names_are_unique_case_insensitively(server, admin_api):
    first = await _template(admin_api)
    twin = await _create(admin_api, name=first["name"].upper())
    assert _codes(twin["errors"]) == {("input", "name"): "DUPLICATE"}


# --- validation ----------------------------------------------------------------------------

async def test_every_problem_is_reported_at_once(server, admin_api):
    payload = await _create(admin_api, name="  ", subject="Line one\nline two", text="",
                            html="<p>\n{{ contact.first_name }}\n{{ y }\n")
    assert payload["template"] is None
    assert _codes(payload["errors"]) == {
        ("input", "name"): "REQUIRED", ("input", "subject"): "INVALID",
        ("input", "text"): "REQUIRED", ("input", "html"): "TEMPLATE_ERROR"}
    html_error = next(e for e in payload["errors"] if e["field"] == ["input", "html"])
    assert html_error["message"] == "line 3: unexpected '}'"


async def test_kind_rules(server, admin_api):
    script = await _create(admin_api, kind="CALL_SCRIPT", subject="Hello", text="", html="<p>")
    assert _codes(script["errors"]) == {("input", "subject"): "INVALID",
                                        ("input", "text"): "REQUIRED",
                                        ("input", "html"): "INVALID"}
    document = await _create(admin_api, kind="DOCUMENT", subject=None, text="plain", html=None)
    assert _codes(document["errors"]) == {("input", "html"): "REQUIRED"}
    ok = await _template(admin_api, kind="DOCUMENT", subject=None, text="plain",
                         html="<h1>{{ contact.last_name }}</h1>")
    assert ok["kind"] == "DOCUMENT"
    too_long = await _create(admin_api, text="x" * (MAX_SOURCE_CHARS + 1))
    assert _codes(too_long["errors"]) == {("input", "text"): "TOO_LONG"}
    switched = await admin_api.data(UPDATE, {"id": ok["id"], "input": {"kind": "EMAIL"}})
    assert _codes(switched["templateUpdate"]["errors"]) == {("input", "subject"): "REQUIRED"}


async def test_the_sandbox_refuses_attribute_tricks(server, admin_api):
    payload = await _create(admin_api, text="{{ ''.__class__.__mro__ }}")
    assert _codes(payload["errors"]) == {("input", "text"): "TEMPLATE_ERROR"}
    assert payload["errors"][0]["message"] == "line 1: access to '__mro__' is not allowed"
    with pytest.raises(TemplateProblem, match="'__class__' of a str is not allowed"):
        TemplateRenderer().render("{{ name|attr('__class__') }}", {"name": "x"})


# --- the renderer's limits (no server needed) ---------------------------------------------

BIG = "{% set s = 'x' * 1000000 %}"
ABUSES = {
    "repetition": ("{{ 'x' * 100000000 }}", "repetition"),
    "nested loops": ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
                     "{% endfor %}", "loops may run at most"),
    "huge range": ("{% for i in range(100000000) %}{% endfor %}", "a range may have at most"),
    "padding": ("{{ 'x'.center(100000000) }}", "a width may be at most"),
    "format width": ("{{ '{:>100000000}'.format(1) }}", "format widths"),
    "printf width": ("{{ '%100000000d' % 1 }}", "a width above"),
    "replace": (BIG + "{{ s.replace('x', s) }}", "would be longer"),
    "join filter": (BIG + "{{ s|join(s) }}", "would be longer"),
    "doubling": ("{% set ns = namespace(s='x') %}{% for i in range(64) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "would be longer"),
    "captured block": ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set b %}"
                       "{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = b %}{% endfor %}",
                       "would be longer"),
    "macro recursion": ("{% macro d(s, n) %}{{ d(s, n) }}{% endmacro %}{{ d('x', 1) }}",
                        "macros may nest"),
    "list repr": (BIG + "{{ [s] * 1000000 }}", "would be longer"),
    "big integer": ("{{ ((((2 ** 100) ** 100) ** 100) ** 100) ** 100 }}", "too large"),
    "batch fill": ("{{ [1]|batch(100000000, 0)|list }}", "batch size"),
    "slices": ("{{ [1]|slice(100000000)|list }}", "slices may be at most"),
    "output": ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "output is longer"),
}


@pytest.mark.parametrize("source,expected", ABUSES.values(), ids=ABUSES.keys())
def test_resource_limits_fail_fast_with_a_clear_problem(source, expected):
    with pytest.raises(TemplateProblem) as problem:
        TemplateRenderer().render(source, {})
    assert expected in str(problem.value)


def test_normal_templates_still_render():
    context = {"contact": {"first_name": "Ann"}, "items": ["a", "b"]}
    source = ("{{ contact.first_name|upper }} {{ items|join(', ') }} {{ '%.1f'|format(2.25) }} "
              "{{ '{:>3}'.format('x') }} {% for i in range(3) %}{{ loop.index }}{% endfor %} "
              "[{{ missing.deeply.nested }}] {{ 'ab' ~ 'cd' }} {{ ('x' * 3)|center(5) }}")
    assert TemplateRenderer().render(source, context) == "ANN a, b 2.2   x 123 [] abcd  xxx "


def test_escaping_and_source_size():
    renderer = TemplateRenderer()
    assert renderer.render("<b>{{ v }}</b>", {"v": "<i>"}, html=True) == "<b>&lt;i&gt;</b>"
    with pytest.raises(TemplateProblem, match="longer than"):
        renderer.check("x" * (MAX_SOURCE_CHARS + 1))


# --- preview -------------------------------------------------------------------------------

async def test_preview_renders_for_one_contact(server, admin_api):
    tag = unique("pv")
    with_company, without = await create_contacts(admin_api, [
        {"email": f"{tag}-a@example.org", "firstName": "Ada", "lastName": "L"},
        {"email": f"{tag}-b@example.org", "firstName": "Bob", "lastName": "M"}])
    company = await server.call(Company.insert(Company(name="Acme", created_at=now()))
                                .returning(Company.id))
    await server.call(Contact.update({Contact.company: company[0]["id"]}).where(
        Contact.id == db_id(with_company)))
    template = await _template(admin_api, text="Dear {{ contact.first_name }} of "
                               "[{{ company.name }}] {{ contact.nickname }}/{{ campaign.name }}/"
                               "{{ sender.email }}")

    plain = (await admin_api.data(PREVIEW, {"t": template["id"], "c": without}))["templatePreview"]
    assert plain["errors"] == []
    assert plain["subject"] == "Hi Bob"
    owner_email = (await admin_api.data("{ me { email } }"))["me"]["email"]
    assert plain["text"] == f"Dear Bob of [] //{owner_email}"
    assert plain["html"] == "<p>Dear Bob &amp; </p>"

    campaign = await create_campaign(admin_api, f"Preview {tag} <&>", config={})
    full = (await admin_api.data(PREVIEW, {"t": template["id"], "c": with_company,
                                           "campaign": campaign}))["templatePreview"]
    assert full["text"] == f"Dear Ada of [Acme] /Preview {tag} <&>/{owner_email}"
    assert full["html"] == f"<p>Dear Ada &amp; Preview {tag} &lt;&amp;&gt;</p>"


async def test_preview_reports_failing_parts_and_unknown_ids(server, admin_api):
    [contact] = await create_contacts(admin_api, [{"email": f"{unique('pe')}@example.org",
                                                   "firstName": "Eve"}])
    template = await _template(admin_api, text="{{ 'x' * 100000000 }}")
    preview = (await admin_api.data(PREVIEW, {"t": template["id"], "c": contact}))["templatePreview"]
    assert preview["subject"] == "Hi Eve" and preview["text"] is None
    assert _codes(preview["errors"]) == {("text",): "TEMPLATE_ERROR"}
    assert "repetition" in preview["errors"][0]["message"]

    wrong_type = await admin_api.data(PREVIEW, {"t": template["id"], "c": template["id"]})
    assert _codes(wrong_type["templatePreview"]["errors"]) == {("contactId",): "INVALID"}
    unknown = await admin_api.data(PREVIEW, {"t": template["id"], "c": contact,
                                             "campaign": str(GlobalID("Campaign", "999999999"))})
    assert _codes(unknown["templatePreview"]["errors"]) == {("campaignId",): "NOT_FOUND"}


# --- campaigns -----------------------------------------------------------------------------

async def test_campaign_template_field_and_delete_rules(server, admin_api):
    template = await _template(admin_api)
    campaigns = []
    for _ in range(3):
        data = await admin_api.data(CAMPAIGN_CREATE, {"input": {
            "name": unique("ct"), "templateId": template["id"],
            "action": {"type": "email", "config": {}}}})
        assert data["campaignCreate"]["errors"] == [], data
        campaigns.append(data["campaignCreate"]["campaign"]["id"])
    batched = await admin_api.data(
        "query($a: ID!, $b: ID!, $c: ID!) { a: campaign(id: $a) { template { id name } } "
        "b: campaign(id: $b) { template { id } } c: campaign(id: $c) { template { id } } }",
        dict(zip("abc", campaigns)))
    assert [batched[k]["template"]["id"] for k in "abc"] == [template["id"]] * 3

    db = server.platform.db
    await server.call(db.execute("UPDATE drumbeat_campaign SET state = 'PAUSED' WHERE id = {}",
                                 db_id(campaigns[0])))
    refused = await admin_api.data(DELETE, {"id": template["id"]})
    assert _codes(refused["templateDelete"]["errors"]) == {("id",): "INVALID_STATE"}
    kind = await admin_api.data(UPDATE, {"id": template["id"], "input": {
        "kind": "CALL_SCRIPT", "subject": None, "html": None}})
    assert _codes(kind["templateUpdate"]["errors"]) == {("input", "kind"): "INVALID_STATE"}

    await server.call(db.execute("UPDATE drumbeat_campaign SET state = 'CANCELLED' WHERE id = {}",
                                 db_id(campaigns[0])))
    deleted = await admin_api.data(DELETE, {"id": template["id"]})
    assert deleted["templateDelete"]["errors"] == []
    for campaign in campaigns:
        after = await admin_api.data(CAMPAIGN_TEMPLATE, {"id": campaign})
        assert after["campaign"]["template"] is None
        audit = await server.call(db.fetchval(
            "SELECT count(*) FROM drumbeat_audit_entry WHERE campaign_id = {} AND action = {}",
            db_id(campaign), "template.delete"))
        assert audit == 1


async def test_templates_connection_filters_by_kind(server, admin_api):
    scripts = [await _template(admin_api, kind="CALL_SCRIPT", subject=None, html=None,
                               text=f"Call {i}") for i in range(3)]
    first = await admin_api.data(TEMPLATES, {"kind": "CALL_SCRIPT", "first": 2})
    page = first["templates"]
    assert [e["node"]["id"] for e in page["edges"]] == [scripts[2]["id"], scripts[1]["id"]]
    assert page["pageInfo"]["hasNextPage"]
    second = await admin_api.data(TEMPLATES, {"kind": "CALL_SCRIPT", "first": 2,
                                              "after": page["pageInfo"]["endCursor"]})
    assert second["templates"]["edges"][0]["node"]["id"] == scripts[0]["id"]
    assert {e["node"]["kind"] for e in second["templates"]["edges"]} == {"CALL_SCRIPT"}


async def test_an_email_action_without_content_sends_the_campaign_template(
        server, admin_api, smtp_sink):
    creator_id, marketer = await member_token(server, "MARKETER", name="Mia Marketer")
    template = await _template(admin_api.as_(marketer))
    tag = unique("tplsend")
    people = [{"email": f"{tag}-{i}@example.org", "firstName": f"P{i}"} for i in range(3)]
    contacts = await create_contacts(admin_api, people)
    admin_id = (await admin_api.data("{ me { id } }"))["me"]["id"]
    api = admin_api.as_(marketer)
    data = await api.data(CAMPAIGN_CREATE, {"input": {
        "name": f"Template send {tag}", "templateId": template["id"], "ownerId": admin_id,
        "senderStrategy": "CREATOR", "action": {"type": "email", "config": {}}}})
    assert data["campaignCreate"]["errors"] == [], data
    campaign = data["campaignCreate"]["campaign"]["id"]
    assert (await add_recipients(admin_api, campaign, contacts))["added"] == 3

    await launch_campaign(admin_api, campaign)
    received = await asyncio.to_thread(smtp_sink.wait_for, db_id(campaign), 3, 60)
    assert sorted(m.message["Subject"] for m in received) == ["Hi P0", "Hi P1", "Hi P2"]
    creator_email = (await api.data("{ me { email } }"))["me"]["email"]
    for message in received:
        assert message.mail_from == creator_email, "CREATOR: the campaign's creator sends"
        first_name = message.message["Subject"].removeprefix("Hi ")
        assert f"Dear {first_name} of , from Mia Marketer." in message.body_text()
        html = message.message.get_body(("html",)).get_content()
        assert f"<p>Dear {first_name} &amp; Template send {tag}</p>" in html


def test_check_launch_needs_content_from_the_action_or_the_template():
    """The lead wires ``check_launch`` into the launch; here it is checked directly."""
    action = EmailAction()
    owner = Sender("Owner", "owner@example.org")
    bare = CampaignInfo(id=1, name="C", owner=owner)
    email = CampaignInfo(id=1, name="C", owner=owner,
                         template=TemplateContent("EMAIL", "Hi", "Text", ""))
    script = CampaignInfo(id=1, name="C", owner=owner,
                          template=TemplateContent("CALL_SCRIPT", "", "Say hi", ""))
    empty, full = EmailConfig(), EmailConfig(subject="S", text="T")
    assert [path for path, _ in action.check_launch(empty, bare)] == [("subject",), ("text",)]
    assert [path for path, _ in action.check_launch(empty, script)] == [("subject",), ("text",)]
    assert [path for path, _ in action.check_launch(EmailConfig(subject="S"), bare)] == [("text",)]
    assert action.check_launch(empty, email) == []
    assert action.check_launch(full, bare) == []
    assert action.check_config(empty, TemplateRenderer()) == []


async def test_launch_check_reports_a_campaign_with_nothing_to_send(server, admin_api):
    """``campaign_info.check_launch`` is what the launch service is to call (the lead wires it)."""
    campaign = db_id(await create_campaign(admin_api, unique("full")))
    template = await _template(admin_api)
    with_template = await admin_api.data(CAMPAIGN_CREATE, {"input": {
        "name": unique("tpl"), "templateId": template["id"],
        "action": {"type": "email", "config": {}}}})
    good = db_id(with_template["campaignCreate"]["campaign"]["id"])
    bare = db_id((await admin_api.data(CAMPAIGN_CREATE, {"input": {
        "name": unique("bare"), "action": {"type": "email", "config": {}}}}))
        ["campaignCreate"]["campaign"]["id"])

    async def problems_of(campaign_id: int) -> list:
        steps = await WorkflowAction.select().where(WorkflowAction.campaign == campaign_id)
        problems = Problems()
        await check_launch(server.platform, problems, campaign_id, steps)
        return [(p.field, p.code) for p in problems.items]

    assert await server.call(problems_of(bare)) == [
        (("action", "config", "subject"), ErrorCode.INVALID_CONFIG),
        (("action", "config", "text"), ErrorCode.INVALID_CONFIG)]
    assert await server.call(problems_of(good)) == []
    assert await server.call(problems_of(campaign)) == []  # its action has subject and text


async def test_a_campaign_with_nothing_to_send_cannot_be_launched(server, admin_api):
    from tests.support.queries import LAUNCH, add_recipients, create_contacts, make_ready

    bare = (await admin_api.data(CAMPAIGN_CREATE, {"input": {
        "name": unique("bare-launch"), "action": {"type": "email", "config": {}}}})
    )["campaignCreate"]["campaign"]["id"]
    contacts = await create_contacts(admin_api, [{"email": f"{unique('bl')}@example.org"}])
    await add_recipients(admin_api, bare, contacts)
    await make_ready(admin_api, bare)
    result = (await admin_api.data(LAUNCH, {"id": bare}))["campaignLaunch"]
    assert result["campaign"] is None
    assert sorted((tuple(e["field"]), e["code"]) for e in result["errors"]) == [
        (("action", "config", "subject"), "INVALID_CONFIG"),
        (("action", "config", "text"), "INVALID_CONFIG")]
    deliveries = await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_delivery WHERE campaign = {}", db_id(bare)))
    assert deliveries == 0


def test_tojson_of_a_missing_value_is_null_not_an_error():
    from drumbeat.platform.templating import TemplateRenderer

    rendered = TemplateRenderer().render(
        '{{ {"name": contact.first_name, "city": contact.city.name} | tojson }}',
        {"contact": {"first_name": "Ana"}})
    assert rendered == '{"city": null, "name": "Ana"}'
