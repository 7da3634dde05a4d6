"""Segments over 10k generated contacts: for every kind of condition, nesting and edge case,
the database's count and id set equal a plain-Python oracle over the same data.

The data set is made once per database (bulk inserts) and marked with a custom attribute;
every filter is checked inside ``all: [marker, filter]`` so contacts made by other tests of
the session never count.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from drumbeat.platform import segments
from drumbeat.platform.errors import DomainError, ErrorCode
from tests.support.segment_data import CITIES, N, TODAY, Data, dataset, matches


async def _check(server, data: Data, filters: list[dict], trivial_ok: tuple[int, ...] = ()):
    """Each filter's SQL id set and count equal the oracle's; each selects some but not all
    contacts (unless its index is in ``trivial_ok``), so every check can fail."""
    async def work():
        results = []
        for node in filters:
            scoped = {"all": [data.marker, node]}
            sql, params = await segments.matching_contact_ids_sql(server.platform, scoped, on=TODAY)
            ids = {r["id"] for r in await server.platform.db.fetch(sql, *params)}
            results.append((ids, await segments.count(server.platform, scoped, on=TODAY)))
        return results

    for index, (node, (ids, count)) in enumerate(zip(filters, await server.call(work()))):
        expected = {c["id"] for c in data.contacts if matches(data, c, node)}
        assert ids == expected, (index, node, len(ids), len(expected))
        assert count == len(expected), (index, node)
        if index not in trivial_ok:
            assert 0 < len(expected) < N, (index, node, len(expected))


def F(field_name: str, op: str, value=None, values=None) -> dict:
    body = {"field": field_name, "op": op}
    if value is not None:
        body["value"] = value
    if values is not None:
        body["values"] = values
    return {"field": body}


def A(name: str, op: str, value=None, values=None) -> dict:
    body = {k: v for k, v in F(name, op, value, values)["field"].items() if k != "field"}
    return {"attribute": {"name": name, **body}}


# -- the checks ------------------------------------------------------------------------------

async def test_contact_fields_match_the_oracle(server):
    data = await dataset(server)
    await _check(server, data, [
        F("FIRST_NAME", "EQ", "ana"),  # ANA, Ana and ana alike
        F("FIRST_NAME", "NE", "ANA"),
        F("FIRST_NAME", "IN", values=["Iva", "O'Brien", "ZOË"]),
        F("FIRST_NAME", "NOT_IN", values=["iva", "marko"]),
        F("FIRST_NAME", "IS_EMPTY"),
        F("FIRST_NAME", "IS_NOT_EMPTY"),
        F("FIRST_NAME", "CONTAINS", "_"),  # literal underscore: only Per_cent
        F("LAST_NAME", "CONTAINS", "%"),  # literal percent: only 100%Pure
        F("LAST_NAME", "STARTS_WITH", "fifty_"),
        F("LAST_NAME", "STARTS_WITH", "100%p"),
        F("EMAIL", "IS_EMPTY"),  # NULL emails
        F("EMAIL", "CONTAINS", "ana."),
        F("EMAIL", "NE", next(c["email"] for c in data.contacts if c["email"]).upper()),
        F("JOB_TITLE", "CONTAINS", "MANAGER"),
        F("LANGUAGE", "EQ", "ES-es"),
        F("COUNTRY", "IN", values=["hr", "it"]),
        F("CITY", "NOT_IN", values=["Zagreb"]),
        F("GENDER", "IS_NOT_EMPTY"),
        F("CONSENT_SOURCE", "STARTS_WITH", "trade"),
        F("BIRTH_DATE", "IS_EMPTY"),
        F("BIRTH_DATE", "LT", "1970-01-01"),
        F("BIRTH_DATE", "EQ", "1992-02-29"),
        F("BIRTH_DATE", "BETWEEN", values=["1980-01-01", "1989-12-31"]),
        F("BIRTH_DATE", "NE", "1992-02-29"),  # NULL birth dates included
        F("AGE", "GTE", 30),  # born 29 Feb… 30 years ago is 30 today; born 1 March is not
        F("AGE", "EQ", 29),
        F("AGE", "LT", 18),
        F("AGE", "BETWEEN", values=[18, 30]),
        F("AGE", "IN", values=[18, 36]),
        F("AGE", "NOT_IN", values=[30]),
        F("CREATED_AT", "EQ", (TODAY - timedelta(days=100)).isoformat()),
        F("CREATED_AT", "GT", (TODAY - timedelta(days=300)).isoformat()),
        F("CREATED_AT", "LTE", (TODAY - timedelta(days=300)).isoformat()),
        F("CREATED_AT", "BETWEEN", values=[(TODAY - timedelta(days=30)).isoformat(),
                                            (TODAY - timedelta(days=20)).isoformat()]),
        F("CONSENT_AT", "IS_EMPTY"),
        F("CONSENT_AT", "GTE", (TODAY - timedelta(days=200)).isoformat()),
    ])


async def test_company_fields_match_the_oracle(server):
    data = await dataset(server)
    await _check(server, data, [
        F("COMPANY_NAME", "CONTAINS", "acme"),
        F("COMPANY_NAME", "STARTS_WITH", "100% "),
        F("COMPANY_NAME", "CONTAINS", "a_b"),
        F("COMPANY_NAME", "IS_EMPTY"),  # contacts without a company
        F("COMPANY_NAME", "NE", next(c["company"]["name"] for c in data.contacts
                                     if c["company"]).upper()),  # … included
        F("COMPANY_INDUSTRY", "IN", values=["software", "FOOD"]),
        F("COMPANY_INDUSTRY", "IS_EMPTY"),
        F("COMPANY_SIZE", "GT", 1000),
        F("COMPANY_SIZE", "LTE", 50),
        F("COMPANY_SIZE", "IS_EMPTY"),
        F("COMPANY_SIZE", "NE", next(c["company"]["size"] for c in data.contacts
                                     if c["company"] and c["company"]["size"])),
        F("COMPANY_SIZE", "BETWEEN", values=[100, 2000]),
        F("COMPANY_COUNTRY", "EQ", "de"),
        F("COMPANY_CITY", "NOT_IN", values=["Rome", "Split"]),
        F("COMPANY_EMAIL", "IS_NOT_EMPTY"),
        F("COMPANY_VAT_ID", "EQ", data.run),
    ])


async def test_tags_attributes_consent_and_flags_match_the_oracle(server):
    data = await dataset(server)
    await _check(server, data, [
        {"tags": {"match": "ANY", "tags": ["VIP", "b2b"]}},
        {"tags": {"match": "ALL", "tags": ["newsletter", "lead"]}},
        {"tags": {"match": "ALL", "tags": ["vip", "VIP"]}},  # one tag, any case
        {"tags": {"match": "NONE", "tags": ["vip", "newsletter"]}},
        {"tags": {"match": "ANY", "tags": ["event_2025", "50%"]}},
        {"tags": {"match": "ANY", "tags": ["event%"]}},  # no wildcard: matches nobody
        A("score", "GT", 50),
        A("score", "LTE", 10.5),
        A("score", "BETWEEN", values=[20, 30]),
        A("score", "IN", values=[1, 2, 3, 50]),  # the number 50, not the text "50"
        A("score", "EQ", "50"),  # the text "50", not the number
        A("score", "NE", 50),
        A("score", "IS_EMPTY"),  # missing or ""
        A("score", "IS_NOT_EMPTY"),
        A("vip", "EQ", True),
        A("vip", "EQ", False),
        A("vip", "NE", True),
        A("plan", "EQ", "GOLD"),
        A("plan", "CONTAINS", "%_"),
        A("plan", "STARTS_WITH", "sil"),
        A("plan", "NOT_IN", values=["gold"]),
        A("missing", "IS_EMPTY"),
        {"consent": ["GRANTED"]},
        {"consent": ["DENIED", "UNKNOWN"]},
        {"unsubscribed": True},
        {"unsubscribed": False},
        {"bounced": True},
    ], trivial_ok=(5, 21))


async def test_purchase_history_and_interest_match_the_oracle(server):
    data = await dataset(server)
    p = [product["id"] for product in data.products]
    await _check(server, data, [
        {"bought": {}},
        {"bought": {"productIds": [p[0], p[5]]}},
        {"bought": {"categories": ["BOOKS"]}},  # Books and books alike
        {"bought": {"categories": ["soft_ware"], "period": {"lastDays": 30}}},
        {"bought": {"productIds": [p[2]], "categories": ["music"],
                    "period": {"from": "2027-01-01", "to": "2027-06-30"}}},
        {"bought": {"period": {"from": (TODAY - timedelta(days=10)).isoformat()}}},
        {"bought": {"period": {"to": "2026-03-31"}}},
        {"not": {"bought": {"period": {"lastDays": 365}}}},
        {"spend": {"op": "GTE", "amount": "500.00", "currency": "EUR"}},
        {"spend": {"op": "LT", "amount": "100", "currency": "EUR", "period": {"lastDays": 180}}},
        {"spend": {"op": "GT", "amount": "0", "currency": "usd"}},
        {"spend": {"op": "LTE", "amount": "250.50", "currency": "EUR", "categories": ["garden"]}},
        {"spend": {"op": "EQ", "amount": "0", "currency": "EUR", "period": {"lastDays": 60}}},
        {"purchaseCount": {"op": "GTE", "count": 3}},
        {"purchaseCount": {"op": "EQ", "count": 0}},
        {"purchaseCount": {"op": "NE", "count": 1, "period": {"lastDays": 365}}},
        {"purchaseCount": {"op": "LT", "count": 2, "productIds": [p[1], p[3]]}},
        {"interest": {"productIds": [p[4]]}},
        {"interest": {"categories": ["Music", "garden"]}},
        {"interest": {}},
    ])


async def test_nested_filters_match_the_oracle(server):
    data = await dataset(server)
    p = [product["id"] for product in data.products]
    deep = {"consent": ["GRANTED"]}
    for level in range(8):
        deep = {"not": deep} if level % 2 else {"any": [deep, F("CITY", "EQ", CITIES[level % 4])]}
    await _check(server, data, [
        {"all": [F("COUNTRY", "EQ", "HR"), {"consent": ["GRANTED"]}, {"unsubscribed": False}]},
        {"any": [{"tags": {"match": "ANY", "tags": ["vip"]}},
                 {"spend": {"op": "GTE", "amount": "1000", "currency": "EUR"}}]},
        {"not": {"any": [F("COMPANY_NAME", "IS_EMPTY"), {"bounced": True}]}},
        {"all": [{"not": F("AGE", "LT", 30)}, {"not": {"not": A("vip", "EQ", True)}},
                 {"any": [{"bought": {"productIds": [p[7]]}}, {"interest": {"productIds": [p[7]]}}]}]},
        {"any": [{"all": [F("COMPANY_SIZE", "GT", 100), F("COMPANY_SIZE", "LT", 200)]},
                 {"not": F("BIRTH_DATE", "IS_NOT_EMPTY")}]},
        {"all": []},  # everybody
        {"any": []},  # nobody
        deep,
    ], trivial_ok=(5, 6))


async def test_sql_in_values_matches_nothing_and_harms_nothing(server):
    data = await dataset(server)
    payloads = ["x' OR '1'='1", "'); DROP TABLE drumbeat_contact; --", "\\' OR 1=1 --", "%' --"]
    await _check(server, data, [
        *(F("FIRST_NAME", "EQ", v) for v in payloads),
        *(F("LAST_NAME", "CONTAINS", v) for v in payloads),
        *(A("plan", "EQ", v) for v in payloads),
        {"tags": {"match": "ANY", "tags": payloads}},
        {"bought": {"categories": payloads}},
    ], trivial_ok=tuple(range(14)))
    assert await server.call(segments.count(server.platform, data.marker)) == N


REFUSED = [  # (JSON filter, field path, code)
    ({"field": {"field": "email; DROP TABLE drumbeat_contact", "op": "EQ", "value": "x"}},
     ["filter", "field", "field"], ErrorCode.UNKNOWN_FIELD),
    ({"attribute": {"name": "x') OR 1=1 --", "op": "EQ", "value": "x"}},
     ["filter", "attribute", "name"], ErrorCode.INVALID),
    ({"attribute": {"name": 'a"b', "op": "EQ", "value": "x"}},
     ["filter", "attribute", "name"], ErrorCode.INVALID),
    ({"field": {"field": "EMAIL", "op": "EQ); DELETE", "value": "x"}},
     ["filter", "field", "op"], ErrorCode.INVALID_OPERATOR),
    ({"sql": "DELETE FROM drumbeat_contact"}, ["filter", "sql"], ErrorCode.UNKNOWN_FIELD),
    ({"field": {"field": "EMAIL", "op": "EQ", "value": "x", "sql": "1=1"}},
     ["filter", "field", "sql"], ErrorCode.UNKNOWN_FIELD),
]


async def test_a_json_filter_with_unknown_names_or_sql_is_refused(server):
    async def refused(node) -> list:
        with pytest.raises(DomainError) as error:
            await segments.matching_contact_ids_sql(server.platform, node)
        with pytest.raises(DomainError):
            await segments.count(server.platform, {"all": [node]})
        return [(list(p.field), p.code) for p in error.value.problems]

    for node, path, code in REFUSED:
        assert await server.call(refused(node)) == [(path, code)], node
