"""Filter → SQL: a boolean expression over the contact alias ``c`` and its parameters.

Every value is a ``{}`` parameter; identifiers come only from the field whitelist. Every
expression is two-valued (never NULL), so ``not`` is the exact complement of its filter.
NULL text counts as empty; a NULL number or date matches no comparison. Text compares in
any letter case: values arrive lowered by Python, columns go through ``lower`` (on SQLite
``unicode_lower`` when a value is not ASCII, see ``records.lower_sql``). ``NE``, ``NOT_IN``
and ``IS_EMPTY`` are the negations of ``EQ``, ``IN`` and ``IS_NOT_EMPTY``, so a contact
without a company matches ``COMPANY_NAME NE "x"``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from drumbeat.platform.records import lower_sql
from drumbeat.platform.segments.fields import NEGATIONS, FieldSpec, Kind, Op, TagMatch
from drumbeat.platform.segments.nodes import (
    AllOf, AnyOf, AttributeCondition, BoughtCondition, ConsentCondition, FieldCondition,
    FlagCondition, InterestCondition, Node, Not, Period, Products, PurchaseCountCondition,
    SpendCondition, TagsCondition,
)

COMPARE = {Op.EQ: "=", Op.NE: "<>", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def compile_filter(node: Node, dialect: str, today: date) -> tuple[str, list[Any]]:
    """``(sql, params)``: a boolean SQL expression over ``drumbeat_contact c``."""
    compiler = _Compiler(dialect, today)
    return compiler.node(node), compiler.params


def like_pattern(value: str, prefix: bool) -> str:
    """A LIKE pattern matching ``value`` literally (``ESCAPE '\\'``)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


class _Compiler:
    def __init__(self, dialect: str, today: date):
        self.dialect = dialect
        self.today = today
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        """A placeholder for ``value``. Call in the order the SQL text is written."""
        self.params.append(value)
        return "{}"

    def ps(self, values) -> str:
        return ", ".join(self.p(v) for v in values)

    def lower(self, expression: str, values) -> str:
        """``expression`` lowered comparably to ``values`` (Python-lowered text)."""
        return lower_sql(expression, self.dialect, *values)

    # -- structure -------------------------------------------------------------------------
    def node(self, node: Node) -> str:
        if isinstance(node, AllOf):
            return "(" + " AND ".join(self.node(i) for i in node.items) + ")" if node.items else "(1 = 1)"
        if isinstance(node, AnyOf):
            return "(" + " OR ".join(self.node(i) for i in node.items) + ")" if node.items else "(1 = 0)"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.item)})"
        return getattr(self, type(node).__name__)(node)  # one method per condition class

    def negatable(self, op: Op, positive) -> str:
        """``positive(op)``, or ``NOT positive(base op)`` for NE, NOT_IN and IS_EMPTY."""
        base = NEGATIONS.get(op)
        return f"(NOT {positive(base)})" if base else positive(op)

    # -- contact and company fields ----------------------------------------------------------
    def FieldCondition(self, node: FieldCondition) -> str:
        spec = node.spec
        column = f"{'co' if spec.company else 'c'}.{spec.column}"

        def positive(op: Op) -> str:
            expression = self.field_test(spec, column, op, node.values)
            if not spec.company:
                return expression
            return ("EXISTS (SELECT 1 FROM drumbeat_company co"
                    f" WHERE co.id = c.company AND {expression})")

        return self.negatable(node.op, positive)

    def field_test(self, spec: FieldSpec, column: str, op: Op, values: tuple) -> str:
        if spec.kind is Kind.TEXT:
            return self.text_test(column, op, values)
        if op is Op.IS_NOT_EMPTY:
            return f"({column} IS NOT NULL)"
        intervals = [(v, v) for v in values] if op is Op.IN else [_interval(op, values)]
        terms = [self.interval(spec.kind, column, low, high) for low, high in intervals]
        return "(" + " OR ".join(terms) + ")"

    def text_test(self, expression: str, op: Op, values: tuple) -> str:
        value = f"COALESCE({self.lower(expression, values)}, '')"
        if op is Op.IS_NOT_EMPTY:
            return f"(COALESCE({expression}, '') <> '')"
        if op is Op.EQ:
            return f"({value} = {self.p(values[0])})"
        if op is Op.IN:
            return f"({value} IN ({self.ps(values)}))"
        pattern = like_pattern(values[0], prefix=op is Op.STARTS_WITH)
        return f"({value} LIKE {self.p(pattern)} ESCAPE '\\')"

    def interval(self, kind: Kind, column: str, low, high) -> str:
        """``low <= column <= high`` for a discrete kind (None: unbounded), never NULL."""
        if kind is Kind.DAY:  # [low 00:00, (high + 1) 00:00) in UTC
            low, high = (None if low is None else _midnight(low),
                         None if high is None else _midnight(high + timedelta(days=1)))
            return self.bounds(column, low, ">=", high, "<")
        if kind is Kind.AGE:  # born after `high + 1` years ago, at most `low` years ago
            low, high = (None if high is None else years_before(self.today, high + 1),
                         None if low is None else years_before(self.today, low))
            return self.bounds(column, low, ">", high, "<=")
        return self.bounds(column, low, ">=", high, "<=")

    def bounds(self, column: str, low, low_op: str, high, high_op: str) -> str:
        tests = [f"{column} IS NOT NULL"]
        if low is not None:
            tests.append(f"{column} {low_op} {self.p(low)}")
        if high is not None:
            tests.append(f"{column} {high_op} {self.p(high)}")
        return f"COALESCE({' AND '.join(tests)}, FALSE)"

    # -- custom attributes ---------------------------------------------------------------------
    def AttributeCondition(self, node: AttributeCondition) -> str:
        return self.negatable(node.op, lambda op: self.attribute_test(node, op))

    def attribute_test(self, node: AttributeCondition, op: Op) -> str:
        if op is Op.IS_NOT_EMPTY:
            return f"(COALESCE({self.json_text(node.name)}, '') <> '')"
        if node.kind is Kind.BOOLEAN:
            if self.dialect == "sqlite":
                wanted = "true" if node.values[0] else "false"
                return f"(COALESCE(json_type(c.attributes, {self.p(self.path(node.name))}), '') = '{wanted}')"
            literal = "true" if node.values[0] else "false"
            return (f"(COALESCE(CAST(c.attributes -> CAST({self.p(node.name)} AS TEXT) AS TEXT), '')"
                    f" = '{literal}')")
        if node.kind is Kind.TEXT:
            check = self.json_type_is(node.name, "text", "string")
            return f"(CASE WHEN {check} THEN {self.text_test(self.json_text(node.name), op, node.values)} ELSE FALSE END)"
        check = self.json_type_is(node.name, "number", "number")
        number = self.json_number(node.name)
        if op is Op.IN:
            test = f"{number} IN ({self.ps(node.values)})"
        elif op is Op.BETWEEN:
            test = f"{number} BETWEEN {self.p(node.values[0])} AND {self.p(node.values[1])}"
        else:
            test = f"{number} {COMPARE[op]} {self.p(node.values[0])}"
        return f"(CASE WHEN {check} THEN {test} ELSE FALSE END)"

    def path(self, name: str) -> str:
        return f'$."{name}"'  # name is a validated identifier

    def json_type_is(self, name: str, sqlite_type: str, postgres_type: str) -> str:
        if self.dialect == "sqlite":
            types = "('integer', 'real')" if sqlite_type == "number" else f"('{sqlite_type}')"
            return f"COALESCE(json_type(c.attributes, {self.p(self.path(name))}), '') IN {types}"
        return (f"COALESCE(json_typeof(c.attributes -> CAST({self.p(name)} AS TEXT)), '')"
                f" = '{postgres_type}'")

    def json_text(self, name: str) -> str:
        if self.dialect == "sqlite":
            return f"json_extract(c.attributes, {self.p(self.path(name))})"
        return f"(c.attributes ->> CAST({self.p(name)} AS TEXT))"

    def json_number(self, name: str) -> str:
        if self.dialect == "sqlite":
            return self.json_text(name)
        return f"CAST(c.attributes ->> CAST({self.p(name)} AS TEXT) AS DOUBLE PRECISION)"

    # -- tags, consent, flags ---------------------------------------------------------------------
    def TagsCondition(self, node: TagsCondition) -> str:
        tag = self.lower("t.tag", node.tags)
        has = f"FROM drumbeat_contact_tag t WHERE t.contact = c.id AND {tag} IN"
        if node.match is TagMatch.ALL:
            return (f"((SELECT COUNT(DISTINCT {tag}) {has} ({self.ps(node.tags)}))"
                    f" = {self.p(len(node.tags))})")
        exists = f"EXISTS (SELECT 1 {has} ({self.ps(node.tags)}))"
        return f"(NOT {exists})" if node.match is TagMatch.NONE else f"({exists})"

    def ConsentCondition(self, node: ConsentCondition) -> str:
        return f"(COALESCE(c.consent, 'UNKNOWN') IN ({self.ps(node.values)}))"

    def FlagCondition(self, node: FlagCondition) -> str:
        flag = f"COALESCE(c.{node.column}, FALSE)"
        return f"({flag})" if node.value else f"(NOT {flag})"

    # -- purchase history and product interest -------------------------------------------------------
    def products(self, column: str, products: Products) -> str:
        tests = []
        if products.ids:
            tests.append(f"{column} IN ({self.ps(products.ids)})")
        if products.categories:
            tests.append(f"{column} IN (SELECT pr.id FROM drumbeat_product pr"
                         f" WHERE {self.lower('pr.category', products.categories)}"
                         f" IN ({self.ps(products.categories)}))")
        return f" AND ({' OR '.join(tests)})" if tests else ""

    def period(self, period: Period) -> str:
        start, end = period.start, period.end
        if period.last_days is not None:
            start, end = self.today - timedelta(days=period.last_days - 1), self.today
        sql = ""
        if start is not None:
            sql += f" AND p.purchased_on >= {self.p(start)}"
        if end is not None:
            sql += f" AND p.purchased_on <= {self.p(end)}"
        return sql

    def purchases(self, node, select: str, extra: str = "") -> str:
        return (f"(SELECT {select} FROM drumbeat_purchase p WHERE p.contact = c.id{extra}"
                f"{self.products('p.product', node.products)}{self.period(node.period)})")

    def BoughtCondition(self, node: BoughtCondition) -> str:
        return f"(EXISTS {self.purchases(node, '1')})"

    def SpendCondition(self, node: SpendCondition) -> str:
        total = self.purchases(node, "COALESCE(SUM(p.amount_cents), 0)",
                               f" AND p.currency = {self.p(node.currency)}")
        return f"({total} {COMPARE[node.op]} {self.p(node.cents)})"

    def PurchaseCountCondition(self, node: PurchaseCountCondition) -> str:
        return f"({self.purchases(node, 'COUNT(*)')} {COMPARE[node.op]} {self.p(node.count)})"

    def InterestCondition(self, node: InterestCondition) -> str:
        return ("(EXISTS (SELECT 1 FROM drumbeat_product_interest i WHERE i.contact = c.id"
                f"{self.products('i.product', node.products)}))")


def _interval(op: Op, values: tuple) -> tuple[Any, Any]:
    """The inclusive ``(low, high)`` of a comparison over a discrete kind (None: unbounded)."""
    value = values[0]
    if op is Op.BETWEEN:
        return values[0], values[1]
    step = timedelta(days=1) if isinstance(value, date) else 1
    return {
        Op.EQ: (value, value),
        Op.GT: (value + step, None),
        Op.GTE: (value, None),
        Op.LT: (None, value - step),
        Op.LTE: (None, value),
    }[op]
