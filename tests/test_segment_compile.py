"""The filter language without a database: validation reports every problem with its path
and code, and no input ever becomes SQL text."""

from __future__ import annotations

from datetime import date

import pytest

from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.segments.compile import compile_filter, like_pattern, years_before
from drumbeat.platform.segments.filter import MAX_DEPTH, MAX_PREDICATES, parse_filter

TODAY = date(2026, 11, 23)


def problems(data) -> list[tuple[tuple[str, ...], ErrorCode]]:
    with pytest.raises(DomainError) as refused:
        parse_filter(data, "input", "filter")
    return [(p.field, p.code) for p in refused.value.problems]


def test_every_problem_is_reported_with_its_path():
    found = problems({"all": [
        {"field": {"field": "EMAIL", "op": "EQ", "value": "ok@example.com"}},
        {"field": {"field": "SALARY", "op": "EQ", "value": 1}},
        {"field": {"field": "AGE", "op": "CONTAINS", "value": "3"}},
        {"field": {"field": "BIRTH_DATE", "op": "GT", "value": "yesterday"}},
        {"field": {"field": "COMPANY_SIZE", "op": "IN", "value": 3}},
        {"field": {"field": "CITY", "op": "IS_EMPTY", "value": "x"}},
        {"tags": {"match": "SOME", "tags": ["a", 3]}},
        {"consent": ["MAYBE"]},
        {"spend": {"op": "GTE", "amount": "1.234", "currency": "euro"}},
        {"bought": {"productIds": ["UHJvZHVjdDox"], "period": {"lastDays": 0}}},
        {"field": {"field": "CITY", "op": "CONTAINS", "value": ""}},
        {"nothing": True},
    ]})
    at = ("input", "filter", "all")
    assert found == [
        ((*at, "1", "field", "field"), ErrorCode.UNKNOWN_FIELD),
        ((*at, "2", "field", "op"), ErrorCode.INVALID_OPERATOR),
        ((*at, "3", "field", "value"), ErrorCode.WRONG_VALUE_TYPE),
        ((*at, "4", "field", "value"), ErrorCode.INVALID),
        ((*at, "5", "field", "value"), ErrorCode.INVALID),
        ((*at, "6", "tags", "match"), ErrorCode.INVALID),
        ((*at, "6", "tags", "tags", "1"), ErrorCode.WRONG_VALUE_TYPE),
        ((*at, "7", "consent", "0"), ErrorCode.INVALID),
        ((*at, "8", "spend", "amount"), ErrorCode.INVALID),
        ((*at, "8", "spend", "currency"), ErrorCode.INVALID),
        ((*at, "9", "bought", "productIds", "0"), ErrorCode.WRONG_VALUE_TYPE),
        ((*at, "9", "bought", "period", "lastDays"), ErrorCode.INVALID),
        ((*at, "10", "field", "value"), ErrorCode.REQUIRED),
        ((*at, "11", "nothing"), ErrorCode.UNKNOWN_FIELD),
    ]


@pytest.mark.parametrize("condition, path, code", [
    ({"field": {"field": "AGE", "op": "BETWEEN", "values": [40, 30]}}, ("values",), ErrorCode.INVALID),
    ({"field": {"field": "AGE", "op": "BETWEEN", "values": [30]}}, ("values",), ErrorCode.INVALID),
    ({"field": {"field": "AGE", "op": "GT"}}, ("value",), ErrorCode.REQUIRED),
    ({"field": {"field": "AGE", "op": "GT", "value": True}}, ("value",), ErrorCode.WRONG_VALUE_TYPE),
    ({"field": {"field": "CITY", "op": "IN", "values": []}}, ("values",), ErrorCode.REQUIRED),
    ({"field": {"field": "CITY", "op": "IN", "values": ["x"] * 101}}, ("values",),
     ErrorCode.FILTER_TOO_LARGE),
    ({"field": {"field": "CITY", "op": "GT", "value": "a"}}, ("op",), ErrorCode.INVALID_OPERATOR),
    ({"field": {"field": "CITY", "op": "EQ", "value": "x" * 201}}, ("value",), ErrorCode.TOO_LONG),
    ({"field": {"field": "CREATED_AT", "op": "GTE", "value": "2026-02-30"}}, ("value",),
     ErrorCode.WRONG_VALUE_TYPE),
    ({"attribute": {"name": "score", "op": "GT", "value": True}}, ("op",), ErrorCode.INVALID_OPERATOR),
    ({"attribute": {"name": "score", "op": "IN", "values": [1, "2"]}}, ("values", "1"),
     ErrorCode.WRONG_VALUE_TYPE),
    ({"attribute": {"name": "score", "op": "EQ", "value": {"a": 1}}}, ("value",),
     ErrorCode.WRONG_VALUE_TYPE),
    ({"attribute": {"name": "9lives", "op": "IS_EMPTY"}}, ("name",), ErrorCode.INVALID),
    ({"purchaseCount": {"op": "BETWEEN", "count": 1}}, ("op",), ErrorCode.INVALID_OPERATOR),
    ({"purchaseCount": {"op": "GT", "count": -1}}, ("count",), ErrorCode.INVALID),
    ({"bought": {"period": {"lastDays": 7, "from": "2026-01-01"}}}, ("period", "lastDays"),
     ErrorCode.INVALID),
    ({"bought": {"period": {"from": "2026-02-01", "to": "2026-01-01"}}}, ("period", "from"),
     ErrorCode.INVALID),
    ({"interest": {"categories": "Books"}}, ("categories",), ErrorCode.WRONG_VALUE_TYPE),
    ({"unsubscribed": "yes"}, (), ErrorCode.WRONG_VALUE_TYPE),
])
def test_a_bad_condition_is_reported_at_its_field(condition, path, code):
    key = next(iter(condition))
    assert problems(condition) == [(("input", "filter", key, *path), code)]


def test_a_node_has_exactly_one_key():
    assert problems({"unsubscribed": True, "bounced": True}) == [(("input", "filter"), ErrorCode.INVALID)]
    assert problems({}) == [(("input", "filter"), ErrorCode.INVALID)]
    assert problems("country = 'HR'") == [(("input", "filter"), ErrorCode.INVALID)]


def test_depth_and_size_are_limited():
    node = {"bounced": True}
    for _ in range(MAX_DEPTH - 1):
        node = {"not": node}
    parse_filter(node)  # exactly at the limit
    found = problems({"not": node})
    assert found == [(("input", "filter", *["not"] * MAX_DEPTH), ErrorCode.FILTER_TOO_DEEP)]
    many = {"any": [{"bounced": True}] * (MAX_PREDICATES + 1)}
    assert problems(many) == [(("input", "filter"), ErrorCode.FILTER_TOO_LARGE)]
    parse_filter({"any": [{"bounced": True}] * MAX_PREDICATES})


def test_no_input_reaches_the_sql_text():
    hostile = "x'); DROP TABLE drumbeat_contact; --"
    node = parse_filter({"any": [
        {"field": {"field": "LAST_NAME", "op": "CONTAINS", "value": hostile}},
        {"field": {"field": "COMPANY_NAME", "op": "IN", "values": [hostile, "B"]}},
        {"attribute": {"name": "plan", "op": "STARTS_WITH", "value": hostile}},
        {"tags": {"match": "ALL", "tags": [hostile]}},
        {"bought": {"categories": [hostile], "period": {"lastDays": 30}}},
        {"spend": {"op": "GTE", "amount": "10", "currency": "EUR"}},
    ]})
    for dialect in ("sqlite", "postgres"):
        sql, params = compile_filter(node, dialect, TODAY)
        assert "drop" not in sql.lower() and "plan" not in sql
        assert sql.count("{}") == len(params)
        assert hostile.lower() in params and like_pattern(hostile.lower(), False) in params


def test_like_patterns_match_wildcards_literally():
    assert like_pattern("50%_off\\", prefix=False) == "%50\\%\\_off\\\\%"
    assert like_pattern("a_", prefix=True) == "a\\_%"


def test_ages_and_periods_count_from_today():
    assert years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)
    node = parse_filter({"bought": {"period": {"lastDays": 7}}})
    _, params = compile_filter(node, "sqlite", TODAY)
    assert params == [date(2026, 11, 17), TODAY]  # seven days including today
    node = parse_filter({"field": {"field": "AGE", "op": "EQ", "value": 30}})
    _, params = compile_filter(node, "postgres", TODAY)
    assert params == [date(1995, 11, 23), date(1996, 11, 23)]  # born in (low, high]
