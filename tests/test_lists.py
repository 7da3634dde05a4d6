"""Distribution lists over the real API: built from a segment or a filter, refined by hand and
with further filters, refreshed from the segment, permissions, every problem at once, and a
page of lists at a constant number of queries."""

from __future__ import annotations

from datetime import datetime, timezone

from strawberry import relay

from drumbeat.platform import lists
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import db_id
from tests.test_query_cost import QueryCounter

ERRORS = "errors { field message code }"
LIST = "id name description memberCount segment { id } owner { id }"
PAYLOAD = "{ list { %s } %s }" % (LIST, ERRORS)
CREATE = "mutation($input: ListCreateInput!) { listCreate(input: $input) %s }" % PAYLOAD
UPDATE = """mutation($id: ID!, $input: ListUpdateInput!) {
  listUpdate(id: $id, input: $input) %s }""" % PAYLOAD
DELETE = "mutation($id: ID!) { listDelete(id: $id) { deletedId %s } }" % ERRORS
INCLUDE = """mutation($list: ID!, $ids: [ID!]!) {
  listMembersInclude(listId: $list, contactIds: $ids) %s }""" % PAYLOAD
EXCLUDE = """mutation($list: ID!, $ids: [ID!]!) {
  listMembersExclude(listId: $list, contactIds: $ids) %s }""" % PAYLOAD
REFINE = """mutation($list: ID!, $filter: SegmentFilter!, $mode: ListRefineMode!) {
  listRefine(listId: $list, filter: $filter, mode: $mode) %s }""" % PAYLOAD
REFRESH = "mutation($list: ID!) { listRefresh(listId: $list) %s }" % PAYLOAD
SEGMENT_CREATE = """mutation($input: SegmentCreateInput!) {
  segmentCreate(input: $input) { segment { id } %s } }""" % ERRORS
GET = "query($id: ID!) { list(id: $id) { %s } }" % LIST
MEMBERS = """query($id: ID!, $first: Int, $after: String, $all: Boolean!) { list(id: $id) {
  members(first: $first, after: $after, includeExcluded: $all) {
    edges { cursor node { id source excluded addedAt contact { id email } } }
    pageInfo { hasNextPage endCursor } } } }"""
PAGE = "query($n: Int!) { lists(first: $n) { edges { node { %s } } } }" % LIST


async def _contacts(server, run: str, countries: list[str]) -> list[int]:
    """New contacts ``…@{run}.example`` in ``countries``; their ids in that order."""
    async def work():
        db = server.platform.db
        emails = [f"{unique('p')}@{run}.example" for _ in countries]
        await db.executemany(
            "INSERT INTO drumbeat_contact (email, country, created_at) VALUES ({}, {}, {})",
            [(e, c, datetime.now(timezone.utc)) for e, c in zip(emails, countries)])
        rows = await db.fetch("SELECT id, email FROM drumbeat_contact WHERE email LIKE {}",
                              f"%@{run}.example")
        by_email = {r["email"]: r["id"] for r in rows}
        return [by_email[e] for e in emails]

    return await server.call(work())


async def _move(server, contact_id: int, country: str) -> None:
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_contact SET country = {} WHERE id = {}", country, contact_id))


def _gid(type_name: str, row_id: int) -> str:
    return str(relay.GlobalID(type_name, str(row_id)))


def _mine(run: str, *conditions: dict) -> dict:
    return {"all": [{"field": {"field": "EMAIL", "op": "CONTAINS", "value": f"@{run}.example"}},
                    *conditions]}


def _country(code: str) -> dict:
    return {"field": {"field": "COUNTRY", "op": "EQ", "value": code}}


async def _ok(api, document: str, variables: dict, key: str) -> dict:
    result = (await api.data(document, variables))[key]
    assert result["errors"] == [], result["errors"]
    return result


async def _members(api, list_id: str, include_excluded: bool = False) -> dict[int, tuple[str, bool]]:
    """{contact id: (source, excluded)} of every member (paging through two at a time)."""
    found, after = {}, None
    while True:
        page = (await api.data(MEMBERS, {"id": list_id, "first": 2, "after": after,
                                         "all": include_excluded}))["list"]["members"]
        for edge in page["edges"]:
            node = edge["node"]
            found[db_id(node["contact"]["id"])] = (node["source"], node["excluded"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def test_a_list_snapshots_its_segment_and_refresh_keeps_hand_made_changes(server, admin_api):
    _, token = await member_token(server, "MARKETER")
    api = admin_api.as_(token)
    run = unique("list")
    hr1, hr2, hr3, it1, it2 = await _contacts(server, run, ["HR", "HR", "HR", "IT", "IT"])
    croatians = _mine(run, _country("HR"))
    segment = (await _ok(api, SEGMENT_CREATE, {"input": {"name": run, "filter": croatians}},
                         "segmentCreate"))["segment"]
    created = (await _ok(api, CREATE, {"input": {"name": run, "segmentId": segment["id"],
                                                 "description": "Croatia"}}, "listCreate"))["list"]
    list_id = created["id"]
    assert created["memberCount"] == 3 and created["segment"] == {"id": segment["id"]}
    assert await _members(api, list_id) == {c: ("SEGMENT", False) for c in (hr1, hr2, hr3)}

    hr4, hr5 = await _contacts(server, run, ["HR", "HR"])
    assert (await api.data(GET, {"id": list_id}))["list"]["memberCount"] == 3  # a snapshot

    # By hand: include an Italian, exclude a member and a contact not yet in the list.
    included = await _ok(api, INCLUDE, {"list": list_id, "ids": [_gid("Contact", it1)]},
                         "listMembersInclude")
    assert included["list"]["memberCount"] == 4
    excluded = await _ok(api, EXCLUDE, {"list": list_id, "ids": [_gid("Contact", hr2),
                                                                 _gid("Contact", hr5)]},
                         "listMembersExclude")
    assert excluded["list"]["memberCount"] == 3

    # The segment's contacts change: hr3 leaves Croatia, hr4 and hr5 are new there.
    await _move(server, hr3, "DE")
    refreshed = await _ok(api, REFRESH, {"list": list_id}, "listRefresh")
    assert refreshed["list"]["memberCount"] == 3
    assert await _members(api, list_id) == {hr1: ("SEGMENT", False), hr4: ("SEGMENT", False),
                                            it1: ("MANUAL", False)}
    assert await _members(api, list_id, include_excluded=True) == {
        hr1: ("SEGMENT", False), hr4: ("SEGMENT", False), it1: ("MANUAL", False),
        hr2: ("SEGMENT", True), hr5: ("MANUAL", True)}

    # Including an excluded contact again pins it by hand; a refresh keeps it.
    await _move(server, hr2, "DE")
    await _ok(api, INCLUDE, {"list": list_id, "ids": [_gid("Contact", hr2), _gid("Contact", it2),
                                                      _gid("Contact", it2)]}, "listMembersInclude")
    await _ok(api, REFRESH, {"list": list_id}, "listRefresh")
    members = await _members(api, list_id)
    assert members == {hr1: ("SEGMENT", False), hr4: ("SEGMENT", False), it1: ("MANUAL", False),
                       hr2: ("MANUAL", False), it2: ("MANUAL", False)}

    # What the campaign side embeds: the list's contacts, excluded ones left out.
    sql, params = await lists.list_contact_ids_sql(db_id(list_id))
    rows = await server.call(server.platform.db.fetch(sql, *params))
    assert {r["id"] for r in rows} == set(members)


async def test_a_list_from_a_filter_is_refined_in_both_modes(server, admin_api):
    run = unique("list")
    hr, it, es, de = await _contacts(server, run, ["HR", "IT", "ES", "DE"])
    created = (await _ok(admin_api, CREATE, {"input": {"name": run, "filter": _mine(run)}},
                         "listCreate"))["list"]
    list_id = created["id"]
    assert created["memberCount"] == 4 and created["segment"] is None
    node = await admin_api.data("query($id: ID!) { node(id: $id) { ... on DistributionList "
                                "{ name memberCount } } }", {"id": list_id})
    assert node["node"] == {"name": run, "memberCount": 4}

    southern = {"field": {"field": "COUNTRY", "op": "IN", "values": ["HR", "IT", "ES"]}}
    kept = await _ok(admin_api, REFINE, {"list": list_id, "filter": southern, "mode": "KEEP_MATCHING"},
                     "listRefine")
    assert kept["list"]["memberCount"] == 3
    removed = await _ok(admin_api, REFINE, {"list": list_id, "filter": _country("IT"),
                                            "mode": "REMOVE_MATCHING"}, "listRefine")
    assert removed["list"]["memberCount"] == 2
    assert await _members(admin_api, list_id) == {hr: ("SEGMENT", False), es: ("SEGMENT", False)}
    assert await _members(admin_api, list_id, include_excluded=True) == {
        hr: ("SEGMENT", False), es: ("SEGMENT", False), it: ("SEGMENT", True), de: ("SEGMENT", True)}

    # Without a segment there is nothing to refresh from.
    refused = (await admin_api.data(REFRESH, {"list": list_id}))["listRefresh"]
    assert refused["list"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["listId"], "INVALID_STATE")]

    # An empty list, filled by hand; deleting a list takes its members with it.
    empty = (await _ok(admin_api, CREATE, {"input": {"name": f"{run} by hand"}}, "listCreate"))["list"]
    assert empty["memberCount"] == 0
    deleted = (await admin_api.data(DELETE, {"id": list_id}))["listDelete"]
    assert deleted == {"deletedId": list_id, "errors": []}
    assert (await admin_api.data(GET, {"id": list_id}))["list"] is None
    left = await server.call(server.platform.db.fetchval(
        "SELECT COUNT(*) FROM drumbeat_list_member WHERE list = {}", db_id(list_id)))
    assert left == 0


async def test_only_owners_and_admins_change_a_list_and_refusals_change_nothing(server, admin_api):
    _, owner_token = await member_token(server, "MARKETER")
    _, other_token = await member_token(server, "MARKETER")
    _, sales_token = await member_token(server, "SALES")
    run = unique("list")
    hr, it = await _contacts(server, run, ["HR", "IT"])
    owner, other = admin_api.as_(owner_token), admin_api.as_(other_token)
    not_german = _mine(run, {"not": _country("DE")})
    segment = (await _ok(owner, SEGMENT_CREATE, {"input": {"name": run, "filter": not_german}},
                         "segmentCreate"))["segment"]
    list_id = (await _ok(owner, CREATE, {"input": {"name": f"Perm {run}", "segmentId": segment["id"]}},
                         "listCreate"))["list"]["id"]

    sales_api = admin_api.as_(sales_token)
    sales = (await sales_api.data(CREATE, {"input": {"name": unique("s")}}))["listCreate"]
    assert [e["code"] for e in sales["errors"]] == ["FORBIDDEN"] and sales["list"] is None
    await _move(server, hr, "DE")  # a refresh would change the list, were it allowed
    attempts = [
        (UPDATE, {"id": list_id, "input": {"name": "Mine"}}, "listUpdate"),
        (DELETE, {"id": list_id}, "listDelete"),
        (INCLUDE, {"list": list_id, "ids": [_gid("Contact", it)]}, "listMembersInclude"),
        (EXCLUDE, {"list": list_id, "ids": [_gid("Contact", hr)]}, "listMembersExclude"),
        (REFINE, {"list": list_id, "filter": _country("HR"), "mode": "KEEP_MATCHING"}, "listRefine"),
        (REFRESH, {"list": list_id}, "listRefresh"),
    ]
    for document, variables, key in attempts:
        errors = (await other.data(document, variables))[key]["errors"]
        assert [e["code"] for e in errors] == ["FORBIDDEN"], key
    # Everyone signed in reads it, unchanged; an anonymous caller learns nothing.
    unchanged = (await other.data(GET, {"id": list_id}))["list"]
    assert unchanged["name"] == f"Perm {run}" and unchanged["memberCount"] == 2
    assert await _members(other, list_id, include_excluded=True) == {
        hr: ("SEGMENT", False), it: ("SEGMENT", False)}
    anonymous = await admin_api.as_(None).execute(GET, {"id": list_id})
    assert anonymous["data"] is None or anonymous["data"]["list"] is None
    assert "Sign in" in anonymous["errors"][0]["message"]
    refused = (await admin_api.as_(None).data(INCLUDE, {"list": _gid("DistributionList", 999999999),
                                                        "ids": [_gid("Contact", it)]}))
    assert [e["code"] for e in refused["listMembersInclude"]["errors"]] == ["UNAUTHENTICATED"]

    twin = (await other.data(CREATE, {"input": {"name": f"PERM {run}"}}))["listCreate"]
    assert [(e["field"], e["code"]) for e in twin["errors"]] == [(["input", "name"], "DUPLICATE")]
    renamed = await _ok(admin_api, UPDATE, {"id": list_id, "input": {"name": f"Admin {run}"}},
                        "listUpdate")
    assert renamed["list"]["name"] == f"Admin {run}"
    assert (await _ok(owner, REFRESH, {"list": list_id}, "listRefresh"))["list"]["memberCount"] == 1


async def test_every_problem_of_an_input_is_reported_at_once(server, admin_api):
    run = unique("list")
    (hr,) = await _contacts(server, run, ["HR"])
    bad_filter = {"all": [{"field": {"field": "AGE", "op": "GTE", "value": "thirty"}},
                          {"field": {"field": "CITY", "op": "GT", "value": "Split"}}]}
    created = (await admin_api.data(CREATE, {"input": {
        "name": " ", "description": "x" * 2001, "filter": bad_filter}}))["listCreate"]
    assert created["list"] is None
    assert [(e["field"], e["code"]) for e in created["errors"]] == [
        (["input", "name"], "REQUIRED"), (["input", "description"], "TOO_LONG"),
        (["input", "filter", "all", "0", "field", "value"], "WRONG_VALUE_TYPE"),
        (["input", "filter", "all", "1", "field", "op"], "INVALID_OPERATOR")]
    both = (await admin_api.data(CREATE, {"input": {
        "name": run, "segmentId": _gid("Segment", 999999999), "filter": _mine(run)}}))["listCreate"]
    assert [(e["field"], e["code"]) for e in both["errors"]] == [(["input", "filter"], "INVALID")]
    missing = (await admin_api.data(CREATE, {"input": {
        "name": "a\nb", "segmentId": _gid("Campaign", 1)}}))["listCreate"]
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [
        (["input", "name"], "INVALID"), (["input", "segmentId"], "NOT_FOUND")]
    names = await server.call(server.platform.db.fetchval(
        "SELECT COUNT(*) FROM drumbeat_distribution_list WHERE name = {}", run))
    assert names == 0

    list_id = (await _ok(admin_api, CREATE, {"input": {"name": run, "filter": _mine(run)}},
                         "listCreate"))["list"]["id"]
    ids = [_gid("Contact", hr), _gid("Contact", 999999998), _gid("Contact", hr),
           _gid("Segment", hr), _gid("Contact", 999999999)]
    for document, key in ((INCLUDE, "listMembersInclude"), (EXCLUDE, "listMembersExclude")):
        refused = (await admin_api.data(document, {"list": list_id, "ids": ids}))[key]
        assert refused["list"] is None
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [
            (["contactIds", str(i)], "NOT_FOUND") for i in (1, 3, 4)]
    assert await _members(admin_api, list_id, include_excluded=True) == {hr: ("SEGMENT", False)}
    empty = (await admin_api.data(INCLUDE, {"list": list_id, "ids": []}))["listMembersInclude"]
    assert [(e["field"], e["code"]) for e in empty["errors"]] == [(["contactIds"], "REQUIRED")]
    refine = (await admin_api.data(REFINE, {"list": list_id, "filter": bad_filter,
                                            "mode": "REMOVE_MATCHING"}))["listRefine"]
    assert [e["field"][-2:] for e in refine["errors"]] == [["field", "value"], ["field", "op"]]
    unknown = (await admin_api.data(REFRESH, {"list": _gid("DistributionList", 999999999)}))
    assert [(e["field"], e["code"]) for e in unknown["listRefresh"]["errors"]] == [
        (["listId"], "NOT_FOUND")]


async def test_a_page_of_lists_costs_a_constant_number_of_queries(make_server):
    # No reconciler tick on the same engine in the middle of a measurement.
    server = make_server(reconcile_interval_seconds=3600)
    _, token = await member_token(server, "ADMIN")
    api = GraphQLClient(server.url, token)
    run = unique("list")
    await _contacts(server, run, ["HR", "IT", "IT", "ES", "ES", "ES"])
    segment = (await _ok(api, SEGMENT_CREATE, {"input": {"name": run, "filter": _mine(run)}},
                         "segmentCreate"))["segment"]
    for country in ("HR", "IT", "ES"):
        await _ok(api, CREATE, {"input": {"name": f"{run} {country}",
                                          "filter": _mine(run, _country(country))}}, "listCreate")
    await _ok(api, CREATE, {"input": {"name": f"{run} all", "segmentId": segment["id"]}}, "listCreate")

    costs = {}
    for size in (2, 4):
        with QueryCounter(server.platform.db.engine) as counter:
            page = (await api.data(PAGE, {"n": size}))["lists"]["edges"]
        costs[size] = counter.count
        assert len(page) == size
    assert costs[2] == costs[4]
    assert [e["node"]["memberCount"] for e in page] == [6, 3, 2, 1]  # newest first
    assert [e["node"]["segment"] for e in page] == [{"id": segment["id"]}, None, None, None]
