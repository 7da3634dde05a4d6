"""Segments over the real API: create / update / delete with permissions, live (dynamic)
counts and previews, field-level errors for bad filters, the filter's JSON round trip, and
a page of segments at a constant number of queries."""

from __future__ import annotations

from datetime import date, datetime, timezone

from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import db_id
from tests.test_query_cost import QueryCounter

ERRORS = "errors { field message code }"
SEGMENT = "id name description filter owner { id } count preview(first: 2) { id email }"
CREATE = """mutation($input: SegmentCreateInput!) {
  segmentCreate(input: $input) { segment { %s } %s } }""" % (SEGMENT, ERRORS)
UPDATE = """mutation($id: ID!, $input: SegmentUpdateInput!) {
  segmentUpdate(id: $id, input: $input) { segment { %s } %s } }""" % (SEGMENT, ERRORS)
DELETE = "mutation($id: ID!) { segmentDelete(id: $id) { deletedId %s } }" % ERRORS
GET = "query($id: ID!) { segment(id: $id) { %s } }" % SEGMENT
MATCHING = """query($filter: SegmentFilter!, $first: Int) {
  contactsMatching(filter: $filter, first: $first) { count contacts { id email } %s } }""" % ERRORS
PAGE = "query($n: Int!) { segments(first: $n) { edges { node { id count preview(first: 3) { id } } } } }"


async def _contacts(server, run: str, countries: list[str]) -> list[int]:
    """Contacts ``{i}@{run}.example`` in ``countries``; their ids, oldest first."""
    async def work():
        db = server.platform.db
        stamp = datetime.now(timezone.utc)
        await db.executemany(
            "INSERT INTO drumbeat_contact (email, country, created_at) VALUES ({}, {}, {})",
            [(f"{unique('p')}@{run}.example", country, stamp) for country in countries])
        rows = await db.fetch("SELECT id FROM drumbeat_contact WHERE email LIKE {} ORDER BY id",
                              f"%@{run}.example")
        return [r["id"] for r in rows]

    return await server.call(work())


async def _product_bought_by(server, run: str, contact_ids: list[int]) -> int:
    async def work():
        db = server.platform.db
        product = await db.fetchval(
            "INSERT INTO drumbeat_product (name, category, created_at) VALUES ({}, 'Books', {})"
            " RETURNING id", f"{run} book", datetime.now(timezone.utc))
        await db.executemany(
            "INSERT INTO drumbeat_purchase (contact, product, amount_cents, currency, purchased_on)"
            " VALUES ({}, {}, 1500, 'EUR', {})", [(c, product, date(2026, 5, 1)) for c in contact_ids])
        return product

    return await server.call(work())


def _mine(run: str, *conditions: dict) -> dict:
    return {"all": [{"field": {"field": "EMAIL", "op": "CONTAINS", "value": f"@{run}.example"}},
                    *conditions]}


async def test_a_segment_is_evaluated_whenever_it_is_read(server, admin_api):
    _, token = await member_token(server, "MARKETER")
    api = admin_api.as_(token)
    run = unique("seg")
    ids = await _contacts(server, run, ["HR", "hr", "IT", "HR", "DE"])
    hr = {"field": {"field": "COUNTRY", "op": "EQ", "value": "HR"}}
    created = (await api.data(CREATE, {"input": {"name": run, "filter": _mine(run, hr)}}))["segmentCreate"]
    assert created["errors"] == []
    segment = created["segment"]
    assert segment["count"] == 3
    assert [db_id(c["id"]) for c in segment["preview"]] == [ids[3], ids[1]]  # newest first

    more = await _contacts(server, run, ["HR"])
    assert (await api.data(GET, {"id": segment["id"]}))["segment"]["count"] == 4  # dynamic
    node = await api.data("query($id: ID!) { node(id: $id) { ... on Segment { name count } } }",
                          {"id": segment["id"]})
    assert node["node"] == {"name": run, "count": 4}

    product = await _product_bought_by(server, run, [ids[0], more[-1], ids[2]])
    product_gid = str(relay.GlobalID("Product", str(product)))
    bought = {"bought": {"productIds": [product_gid], "period": {"from": "2026-01-01"}}}
    updated = (await api.data(UPDATE, {"id": segment["id"], "input": {
        "filter": _mine(run, hr, bought), "description": "Croatian book buyers"}}))["segmentUpdate"]
    assert updated["errors"] == []
    assert updated["segment"]["count"] == 2
    assert updated["segment"]["name"] == run and updated["segment"]["description"] == "Croatian book buyers"
    stored = updated["segment"]["filter"]
    assert stored["all"][2]["bought"]["productIds"] == [product_gid]

    # The stored filter goes back in as an input, unchanged.
    matching = (await api.data(MATCHING, {"filter": stored, "first": 5}))["contactsMatching"]
    assert matching["errors"] == [] and matching["count"] == 2
    assert {db_id(c["id"]) for c in matching["contacts"]} == {ids[0], more[-1]}

    deleted = (await api.data(DELETE, {"id": segment["id"]}))["segmentDelete"]
    assert deleted == {"deletedId": segment["id"], "errors": []}
    assert (await api.data(GET, {"id": segment["id"]}))["segment"] is None


async def test_only_owners_and_admins_change_segments(server, admin_api):
    _, owner_token = await member_token(server, "MARKETER")
    _, other_token = await member_token(server, "MARKETER")
    _, sales_token = await member_token(server, "SALES")
    run = unique("seg")
    owner = admin_api.as_(owner_token)
    filter = _mine(run)
    segment = (await owner.data(CREATE, {"input": {"name": f"Perm {run}", "filter": filter}}))[
        "segmentCreate"]["segment"]

    refused = (await admin_api.as_(sales_token).data(CREATE, {"input": {
        "name": unique("sales"), "filter": filter}}))["segmentCreate"]
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"] and refused["segment"] is None
    other = admin_api.as_(other_token)
    for document, variables, key in ((UPDATE, {"id": segment["id"], "input": {"name": "Mine"}},
                                      "segmentUpdate"), (DELETE, {"id": segment["id"]}, "segmentDelete")):
        assert [e["code"] for e in (await other.data(document, variables))[key]["errors"]] == ["FORBIDDEN"]
    # Everyone signed in reads it; an anonymous caller learns nothing.
    assert (await other.data(GET, {"id": segment["id"]}))["segment"]["name"] == f"Perm {run}"
    anonymous = await admin_api.as_(None).execute(GET, {"id": segment["id"]})
    assert anonymous["data"] is None or anonymous["data"]["segment"] is None
    assert "Sign in" in anonymous["errors"][0]["message"]

    twin = (await other.data(CREATE, {"input": {"name": f"PERM {run}", "filter": filter}}))["segmentCreate"]
    assert [(e["field"], e["code"]) for e in twin["errors"]] == [(["input", "name"], "DUPLICATE")]
    renamed = (await admin_api.data(UPDATE, {"id": segment["id"], "input": {"name": f"Admin {run}"}}))
    assert renamed["segmentUpdate"]["segment"]["name"] == f"Admin {run}"


async def test_a_bad_filter_gets_field_errors_and_nothing_is_saved(server, admin_api):
    run = unique("seg")
    bad = {"all": [
        {"field": {"field": "COUNTRY", "op": "EQ", "value": "HR"}},
        {"field": {"field": "AGE", "op": "GTE", "value": "thirty"}},
        {"field": {"field": "CITY", "op": "GT", "value": "Split"}},
        {"attribute": {"name": "x'; --", "op": "EQ", "value": 1}},
        {"bought": {"productIds": [str(relay.GlobalID("Product", "999999999"))]}},
    ]}
    created = (await admin_api.data(CREATE, {"input": {"name": run, "filter": bad}}))["segmentCreate"]
    assert created["segment"] is None
    assert [(e["field"], e["code"]) for e in created["errors"]] == [
        (["input", "filter", "all", "1", "field", "value"], "WRONG_VALUE_TYPE"),
        (["input", "filter", "all", "2", "field", "op"], "INVALID_OPERATOR"),
        (["input", "filter", "all", "3", "attribute", "name"], "INVALID"),
    ]
    only_product = {"bought": {"productIds": [str(relay.GlobalID("Product", "999999999"))]}}
    created = (await admin_api.data(CREATE, {"input": {"name": run, "filter": only_product}}))
    assert [(e["field"], e["code"]) for e in created["segmentCreate"]["errors"]] == [
        (["input", "filter"], "NOT_FOUND")]
    matching = (await admin_api.data(MATCHING, {"filter": bad}))["contactsMatching"]
    assert matching["count"] is None and matching["errors"][0]["field"][:1] == ["filter"]

    # The GraphQL input itself refuses unknown fields and nodes with two keys.
    for wrong in ({"field": {"field": "PASSWORD", "op": "EQ", "value": "x"}},
                  {"unsubscribed": True, "bounced": True}):
        body = await admin_api.execute(MATCHING, {"filter": wrong})
        assert body["errors"] and body.get("data") is None


async def test_a_page_of_segments_costs_a_constant_number_of_queries(make_server):
    # No reconciler tick on the same engine in the middle of a measurement.
    server = make_server(reconcile_interval_seconds=3600)
    _, token = await member_token(server, "ADMIN")
    admin_api = GraphQLClient(server.url, token)
    run = unique("seg")
    await _contacts(server, run, ["HR", "IT", "ES"])
    for country in ("HR", "IT", "ES", "DE"):
        filter = _mine(run, {"field": {"field": "COUNTRY", "op": "EQ", "value": country}})
        created = await admin_api.data(CREATE, {"input": {"name": f"{run} {country}", "filter": filter}})
        assert created["segmentCreate"]["errors"] == []

    costs = {}
    for size in (2, 4):
        with QueryCounter(server.platform.db.engine) as counter:
            page = (await admin_api.data(PAGE, {"n": size}))["segments"]["edges"]
        costs[size] = counter.count
        assert len(page) == size
    assert costs[2] == costs[4]
    assert [e["node"]["count"] for e in page] == [0, 1, 1, 1]  # newest first: DE, ES, IT, HR
    assert [len(e["node"]["preview"]) for e in page] == [0, 1, 1, 1]


async def test_contacts_matching_counts_an_unsaved_filter(server):
    _, token = await member_token(server, "SALES")
    api = GraphQLClient(server.url, token)
    run = unique("seg")
    ids = await _contacts(server, run, ["IT", "IT", "HR"])
    filter = _mine(run, {"not": {"field": {"field": "COUNTRY", "op": "IN", "values": ["hr"]}}})
    matching = (await api.data(MATCHING, {"filter": filter, "first": 1}))["contactsMatching"]
    assert matching["count"] == 2 and [db_id(c["id"]) for c in matching["contacts"]] == [ids[1]]
    too_many = (await api.data(MATCHING, {"filter": filter, "first": 101}))["contactsMatching"]
    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [(["first"], "INVALID")]
