"""Filter validation: JSON in, typed nodes (:mod:`.nodes`) out.

A filter is JSON (stored in ``drumbeat_segment.filter``) with the shape of the GraphQL input
``SegmentFilter``: every node has exactly one key —

* ``all: [F]``, ``any: [F]``, ``not: F``;
* ``field: {field, op, value | values}`` — a whitelisted contact or company field;
* ``tags: {match: ANY|ALL|NONE, tags}``; ``attribute: {name, op, value | values}``;
* ``consent: [GRANTED|DENIED|UNKNOWN]``; ``unsubscribed: bool``; ``bounced: bool``;
* ``bought``, ``spend``, ``purchaseCount`` (purchase history, optionally limited to
  ``productIds``/``categories`` and a ``period``) and ``interest`` (product interest).

:func:`parse_filter` turns it into typed nodes or raises a :class:`DomainError`
listing every problem with its field path. Nothing unvalidated ever reaches SQL.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from drumbeat.platform import money
from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.segments.fields import (
    COMPARISONS, FIELDS, MANY_VALUES, NO_VALUE, OPS_BY_KIND, TWO_VALUES, Kind, Op, TagMatch,
)
from drumbeat.platform.segments.nodes import (
    AllOf, AnyOf, AttributeCondition, BoughtCondition, ConsentCondition, FieldCondition,
    FlagCondition, InterestCondition, Node, Not, Period, Products, PurchaseCountCondition,
    SpendCondition, TagsCondition,
)
from drumbeat.platform.tables import Consent
from drumbeat.platform.validation import search_text_problem

MAX_DEPTH = 10
MAX_PREDICATES = 200
MAX_VALUES = 100  # per list
MAX_TOTAL_VALUES = 2000
MAX_TEXT = 200
MAX_INTEGER = 2_000_000_000
MIN_YEAR, MAX_YEAR = 1800, 2999
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
KEYS = ("all", "any", "not", "field", "tags", "attribute", "consent", "unsubscribed", "bounced",
        "bought", "spend", "purchaseCount", "interest")


def parse_filter(data: Any, *path: str | int) -> Node:
    """The typed filter of ``data``; raises a DomainError with every problem found."""
    problems = Problems()
    node = parse_into(problems, data, *path)
    problems.raise_if_any()
    return node


def parse_into(problems: Problems, data: Any, *path: str | int) -> Node | None:
    """Like :func:`parse_filter`, adding problems to ``problems`` (None when any)."""
    parser = _Parser(problems)
    before = len(problems.items)
    node = parser.node(data, tuple(path), 1)
    if parser.predicates > MAX_PREDICATES:
        problems.add(f"At most {MAX_PREDICATES} conditions per filter.",
                     ErrorCode.FILTER_TOO_LARGE, *path)
    if parser.values > MAX_TOTAL_VALUES:
        problems.add(f"At most {MAX_TOTAL_VALUES} values per filter.",
                     ErrorCode.FILTER_TOO_LARGE, *path)
    return node if len(problems.items) == before else None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Parser:
    def __init__(self, problems: Problems):
        self.problems = problems
        self.predicates = 0
        self.values = 0

    def add(self, message: str, code: ErrorCode, path: tuple) -> None:
        self.problems.add(message, code, *path)

    # -- structure -------------------------------------------------------------------------
    def node(self, data: Any, path: tuple, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            self.add(f"Filters nest at most {MAX_DEPTH} levels deep.", ErrorCode.FILTER_TOO_DEEP, path)
            return None
        if not isinstance(data, dict) or len(data) != 1:
            self.add("A filter has exactly one of: " + ", ".join(KEYS) + ".", ErrorCode.INVALID, path)
            return None
        key, body = next(iter(data.items()))
        here = (*path, key)
        if key in ("all", "any"):
            # Bounded before any item is parsed: a list longer than the whole filter may be
            # would only pile up problems.
            if isinstance(body, list) and len(body) > MAX_PREDICATES:
                self.add(f"At most {MAX_PREDICATES} conditions per filter.",
                         ErrorCode.FILTER_TOO_LARGE, path)
                return None
            items = self.items(body, here, lambda item, p: self.node(item, p, depth + 1))
            return None if items is None else (AllOf if key == "all" else AnyOf)(items)
        if key == "not":
            item = self.node(body, here, depth + 1)
            return None if item is None else Not(item)
        handler = self.HANDLERS.get(key)
        if handler is None:
            self.add(f"Unknown filter {_show(key)}.", ErrorCode.UNKNOWN_FIELD, here)
            return None
        self.predicates += 1
        return handler(self, body, here)

    def items(self, data: Any, path: tuple, parse: Callable[[Any, tuple], Any],
              limit: int | None = None, required: bool = False) -> tuple | None:
        """A list, each item parsed; None (and problems) when anything is wrong."""
        if not isinstance(data, list):
            self.add("Expected a list.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        if required and not data:
            self.add("Give at least one value.", ErrorCode.REQUIRED, path)
            return None
        if limit is not None:
            self.values += len(data)
            if len(data) > limit:
                self.add(f"At most {limit} values.", ErrorCode.FILTER_TOO_LARGE, path)
                return None
        parsed = [parse(item, (*path, index)) for index, item in enumerate(data)]
        return None if any(p is None for p in parsed) else tuple(parsed)

    def object(self, data: Any, path: tuple, allowed: tuple[str, ...]) -> dict | None:
        if not isinstance(data, dict):
            self.add("Expected an object.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        unknown = [key for key in data if key not in allowed]
        for key in unknown:
            self.add(f"Unknown key {_show(key)} (known: {', '.join(allowed)}).",
                     ErrorCode.UNKNOWN_FIELD, (*path, key))
        return None if unknown else data

    def enum(self, data: Any, enum: type, path: tuple, code: ErrorCode = ErrorCode.INVALID):
        if data is None:
            self.add("This field is required.", ErrorCode.REQUIRED, path)
            return None
        try:
            return enum(data)
        except ValueError:
            known = ", ".join(member.value for member in enum)
            self.add(f"{_show(data)} is not one of {known}.", code, path)
            return None

    # -- values ----------------------------------------------------------------------------
    def text(self, value: Any, path: tuple, limit: int = MAX_TEXT) -> str | None:
        if not isinstance(value, str):
            self.add("Expected text.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        if not value.strip():
            self.add("Empty text matches nothing; use IS_EMPTY.", ErrorCode.REQUIRED, path)
            return None
        if len(value) > limit:
            self.add(f"At most {limit} characters.", ErrorCode.TOO_LONG, path)
            return None
        if (problem := search_text_problem(value)) is not None:
            self.add(problem, ErrorCode.INVALID, path)
            return None
        return value.lower()

    def integer(self, value: Any, path: tuple, low: int = -MAX_INTEGER,
                high: int = MAX_INTEGER, what: str = "a whole number") -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"Expected {what}.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        if not low <= value <= high:
            self.add(f"Expected a number from {low} to {high}.", ErrorCode.INVALID, path)
            return None
        return value

    def number(self, value: Any, path: tuple) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) \
                or not math.isfinite(value):
            self.add("Expected a number.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        return float(value)

    def date(self, value: Any, path: tuple) -> date | None:
        if isinstance(value, date):
            parsed = value
        else:
            try:
                parsed = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
            except ValueError:
                parsed = None
            if parsed is None:
                self.add("Expected a date (YYYY-MM-DD).", ErrorCode.WRONG_VALUE_TYPE, path)
                return None
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            self.add(f"Expected a date from year {MIN_YEAR} to {MAX_YEAR}.", ErrorCode.INVALID, path)
            return None
        return parsed

    def value_of(self, kind: Kind) -> Callable[[Any, tuple], Any]:
        return {
            Kind.TEXT: self.text,
            Kind.INTEGER: self.integer,
            Kind.DATE: self.date,
            Kind.DAY: self.date,
            Kind.AGE: lambda v, p: self.integer(v, p, 0, 150),
            Kind.NUMBER: self.number,
            Kind.BOOLEAN: self.boolean,
        }[kind]

    def boolean(self, value: Any, path: tuple) -> bool | None:
        if not isinstance(value, bool):
            self.add("Expected true or false.", ErrorCode.WRONG_VALUE_TYPE, path)
            return None
        return value

    def operands(self, body: dict, op: Op, path: tuple, parse: Callable[[Any, tuple], Any]) -> tuple | None:
        """The ``value`` / ``values`` an operator takes, parsed."""
        has_value, has_values = body.get("value") is not None, body.get("values") is not None
        if op in NO_VALUE:
            for key, given in (("value", has_value), ("values", has_values)):
                if given:
                    self.add(f"{op.value} takes no value.", ErrorCode.INVALID, (*path, key))
            return None if has_value or has_values else ()
        single = op not in MANY_VALUES and op not in TWO_VALUES
        wanted, other = ("value", "values") if single else ("values", "value")
        if body.get(other) is not None:
            self.add(f"{op.value} takes {wanted!r}, not {other!r}.", ErrorCode.INVALID, (*path, other))
            return None
        if body.get(wanted) is None:
            self.add(f"{op.value} needs {wanted!r}.", ErrorCode.REQUIRED, (*path, wanted))
            return None
        if single:
            value = parse(body["value"], (*path, "value"))
            return None if value is None else (value,)
        values = self.items(body["values"], (*path, "values"), parse, MAX_VALUES, required=True)
        if values is None:
            return None
        if op in TWO_VALUES:
            if len(values) != 2:
                self.add("BETWEEN takes two values: the lowest and the highest.", ErrorCode.INVALID,
                         (*path, "values"))
                return None
            if values[0] > values[1]:
                self.add("The first value must not be above the second.", ErrorCode.INVALID,
                         (*path, "values"))
                return None
        return values

    # -- predicates ------------------------------------------------------------------------
    def field(self, body: Any, path: tuple) -> FieldCondition | None:
        body = self.object(body, path, ("field", "op", "value", "values"))
        if body is None:
            return None
        name = body.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            self.add(f"Unknown field {_show(name)}.", ErrorCode.UNKNOWN_FIELD, (*path, "field"))
        op = self.enum(body.get("op"), Op, (*path, "op"), ErrorCode.INVALID_OPERATOR)
        if spec is None or op is None:
            return None
        if op not in OPS_BY_KIND[spec.kind]:
            self.add(f"{op.value} does not apply to {name} ({spec.kind.value}).",
                     ErrorCode.INVALID_OPERATOR, (*path, "op"))
            return None
        values = self.operands(body, op, path, self.value_of(spec.kind))
        return None if values is None else FieldCondition(spec, op, values)

    def attribute(self, body: Any, path: tuple) -> AttributeCondition | None:
        body = self.object(body, path, ("name", "op", "value", "values"))
        if body is None:
            return None
        name = body.get("name")
        if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name):
            self.add("An attribute name is a letter or _ followed by letters, digits or _ "
                     "(at most 63).", ErrorCode.INVALID, (*path, "name"))
            name = None
        op = self.enum(body.get("op"), Op, (*path, "op"), ErrorCode.INVALID_OPERATOR)
        if op is None:
            return None
        kind = None if op in NO_VALUE else self.attribute_kind(body, op, path)
        if kind is None and op not in NO_VALUE:
            return None
        if kind is not None and op not in OPS_BY_KIND[kind]:
            self.add(f"{op.value} does not apply to {kind.value} values.",
                     ErrorCode.INVALID_OPERATOR, (*path, "op"))
            return None
        values = self.operands(body, op, path, self.value_of(kind) if kind else self.text)
        return None if values is None or name is None else AttributeCondition(name, op, kind, values)

    def attribute_kind(self, body: dict, op: Op, path: tuple) -> Kind | None:
        """An attribute compares as text, number or boolean: the type of its value(s)."""
        given = body.get("values") if op in MANY_VALUES or op in TWO_VALUES else body.get("value")
        sample = given[0] if isinstance(given, list) and given else given
        if isinstance(sample, bool):
            return Kind.BOOLEAN
        if isinstance(sample, (int, float, Decimal)):
            return Kind.NUMBER
        if isinstance(sample, str) or sample is None:
            return Kind.TEXT
        key = "values" if isinstance(given, list) else "value"
        self.add("Expected text, a number or true/false.", ErrorCode.WRONG_VALUE_TYPE, (*path, key))
        return None

    def tags(self, body: Any, path: tuple) -> TagsCondition | None:
        body = self.object(body, path, ("match", "tags"))
        if body is None:
            return None
        match = self.enum(body.get("match"), TagMatch, (*path, "match"))
        tags = self.items(body.get("tags"), (*path, "tags"), lambda v, p: self.text(v, p, 50),
                          MAX_VALUES, required=True)
        if match is None or tags is None:
            return None
        return TagsCondition(match, tuple(dict.fromkeys(tags)))

    def consent(self, body: Any, path: tuple) -> ConsentCondition | None:
        values = self.items(body, path, lambda v, p: self.enum(v, Consent, p), 3, required=True)
        return None if values is None else ConsentCondition(tuple(v.value for v in values))

    def flag(self, body: Any, path: tuple) -> FlagCondition | None:
        value = self.boolean(body, path)
        return None if value is None else FlagCondition(path[-1], value)

    def products(self, body: dict, path: tuple) -> Products | None:
        ids = categories = ()
        if body.get("productIds") is not None:
            ids = self.items(body["productIds"], (*path, "productIds"),
                             lambda v, p: self.integer(v, p, 1, what="a product id"), MAX_VALUES)
        if body.get("categories") is not None:
            categories = self.items(body["categories"], (*path, "categories"),
                                    lambda v, p: self.text(v, p, 100), MAX_VALUES)
        if ids is None or categories is None:
            return None
        return Products(tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(categories)))

    def period(self, body: dict, path: tuple) -> Period | None:
        data = body.get("period")
        if data is None:
            return Period()
        path = (*path, "period")
        data = self.object(data, path, ("lastDays", "from", "to"))
        if data is None:
            return None
        last_days, start, end = data.get("lastDays"), data.get("from"), data.get("to")
        if last_days is not None:
            if start is not None or end is not None:
                self.add("Give either lastDays or from/to.", ErrorCode.INVALID, (*path, "lastDays"))
                return None
            last_days = self.integer(last_days, (*path, "lastDays"), 1, 36_500)
            return None if last_days is None else Period(last_days=last_days)
        start = None if start is None else self.date(start, (*path, "from"))
        end = None if end is None else self.date(end, (*path, "to"))
        if (data.get("from") is not None and start is None) or (data.get("to") is not None and end is None):
            return None
        if start and end and start > end:
            self.add("'from' must not be after 'to'.", ErrorCode.INVALID, (*path, "from"))
            return None
        return Period(start=start, end=end)

    def bought(self, body: Any, path: tuple) -> BoughtCondition | None:
        body = self.object(body, path, ("productIds", "categories", "period"))
        if body is None:
            return None
        products, period = self.products(body, path), self.period(body, path)
        return None if products is None or period is None else BoughtCondition(products, period)

    def interest(self, body: Any, path: tuple) -> InterestCondition | None:
        body = self.object(body, path, ("productIds", "categories"))
        products = None if body is None else self.products(body, path)
        return None if products is None else InterestCondition(products)

    def comparison(self, body: dict, path: tuple) -> Op | None:
        op = self.enum(body.get("op"), Op, (*path, "op"), ErrorCode.INVALID_OPERATOR)
        if op is not None and op not in COMPARISONS:
            self.add("Use EQ, NE, GT, GTE, LT or LTE.", ErrorCode.INVALID_OPERATOR, (*path, "op"))
            return None
        return op

    def spend(self, body: Any, path: tuple) -> SpendCondition | None:
        body = self.object(body, path, ("op", "amount", "currency", "productIds", "categories",
                                        "period"))
        if body is None:
            return None
        op = self.comparison(body, path)
        amount = body.get("amount")
        cents = None
        if amount is None:
            self.add("An amount is required.", ErrorCode.REQUIRED, (*path, "amount"))
        elif (decimal := money.parse_decimal(amount)) is None:
            self.add("Expected an amount such as \"120.50\".", ErrorCode.WRONG_VALUE_TYPE,
                     (*path, "amount"))
        else:
            cents = money.check_amount(self.problems, decimal, *path, "amount")
        currency = money.check_currency(self.problems, body.get("currency") if isinstance(
            body.get("currency"), str) else None, *path, "currency")
        products, period = self.products(body, path), self.period(body, path)
        if None in (op, cents, currency, products, period):
            return None
        return SpendCondition(op, cents, currency, products, period)

    def purchase_count(self, body: Any, path: tuple) -> PurchaseCountCondition | None:
        body = self.object(body, path, ("op", "count", "productIds", "categories", "period"))
        if body is None:
            return None
        op = self.comparison(body, path)
        count = body.get("count")
        if count is None:
            self.add("A count is required.", ErrorCode.REQUIRED, (*path, "count"))
        else:
            count = self.integer(count, (*path, "count"), 0)
        products, period = self.products(body, path), self.period(body, path)
        if None in (op, count, products, period):
            return None
        return PurchaseCountCondition(op, count, products, period)

    HANDLERS = {
        "field": field, "attribute": attribute, "tags": tags, "consent": consent,
        "unsubscribed": flag, "bounced": flag, "bought": bought, "spend": spend,
        "purchaseCount": purchase_count, "interest": interest,
    }
