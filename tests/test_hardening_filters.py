"""Issue 14: NUL (and other control characters) in filter and search values is refused
with a clear error — a NUL in ``CONTAINS`` used to match every contact on SQLite (and
fails any query on PostgreSQL)."""

from __future__ import annotations

import pytest

from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.segments.filter import parse_filter
from drumbeat.schema.text_guard import MESSAGE
from tests.conftest import unique

MATCHING = """query($filter: SegmentFilter!) { contactsMatching(filter: $filter) { count
  errors { field message code } } }"""
CONTACTS_CREATE = """mutation($input: [ContactInput!]!) { contactsCreate(input: $input) {
  contacts { id } errors { code } } }"""
# Every search and filter text of the API, each given a NUL through a variable.
SEARCHES = [
    ("query($s: String) { contacts(search: $s) { edges { cursor } } }", {}),
    ("query($s: String) { contacts(tag: $s) { edges { cursor } } }", {}),
    ("query($s: String) { companies(search: $s) { edges { cursor } } }", {}),
    ("query($s: String) { leads(search: $s) { edges { cursor } } }", {}),
    ("query($s: String) { products(search: $s) { id } }", {}),
    ("query($s: String) { campaigns(filter: {text: $s}) { edges { cursor } } }", {}),
    ("query($s: String) { campaigns(filter: {tag: $s}) { edges { cursor } } }", {}),
    ("query($s: String!) { contactsMatching(filter: {field: {field: EMAIL, op: CONTAINS, "
     "value: $s}}) { count } }", {}),
]


def _contains(value: str) -> dict:
    return {"field": {"field": "EMAIL", "op": "CONTAINS", "value": value}}


async def test_a_nul_in_contains_is_refused_not_matching_everyone(admin_api):
    run = unique("nul")
    created = await admin_api.data(CONTACTS_CREATE, {"input": [
        {"email": f"a@{run}.example"}, {"email": f"b@{run}.example"}]})
    assert not created["contactsCreate"]["errors"]
    mine = (await admin_api.data(MATCHING, {"filter": _contains(f"@{run}.example")}))
    assert mine["contactsMatching"]["count"] == 2
    for value in ("\x00", f"@{run}\x00.example", "\x00zzz-no-one"):
        body = await admin_api.execute(MATCHING, {"filter": _contains(value)})
        assert body.get("data") is None, body  # never a count (it was: everyone)
        assert [e["message"] for e in body["errors"]] == [MESSAGE]


@pytest.mark.parametrize("query, extra", SEARCHES)
async def test_every_search_and_filter_refuses_nul(admin_api, query, extra):
    body = await admin_api.execute(query, {"s": "a\x00b", **extra})
    assert body.get("data") is None and [e["message"] for e in body["errors"]] == [MESSAGE], body


async def test_other_control_characters_are_refused_in_searches(admin_api):
    contacts = await admin_api.execute(
        "query($s: String) { contacts(search: $s) { edges { cursor } } }", {"s": "a\x01"})
    assert "Control characters" in contacts["errors"][0]["message"], contacts
    campaigns = await admin_api.execute(
        "query($s: String) { campaigns(filter: {text: $s}) { edges { cursor } } }", {"s": "\x1b"})
    assert "Control characters" in campaigns["errors"][0]["message"], campaigns
    matching = (await admin_api.data(MATCHING, {"filter": _contains("a\x07")}))["contactsMatching"]
    assert [(e["field"], e["code"]) for e in matching["errors"]] == [
        (["filter", "field", "value"], "INVALID")], matching
    # Tabs and line breaks separate search terms like spaces: still fine.
    assert (await admin_api.data("query($s: String) { contacts(search: $s) { edges { cursor } } }",
                                 {"s": "qzx81noone\tqzy82\nqzz83"}))["contacts"]["edges"] == []


def test_a_stored_filter_with_a_nul_does_not_parse():
    """Filters are parsed again when a segment is read from the database."""
    with pytest.raises(DomainError) as raised:
        parse_filter({"all": [_contains("x\x00")]})
    [problem] = raised.value.problems
    assert problem.code is ErrorCode.INVALID and "NUL" in problem.message
