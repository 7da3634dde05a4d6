"""``SegmentFilter``: the filter language as a recursive one-of GraphQL input, and its
conversion to and from the JSON form the platform validates and stores."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, Optional

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from drumbeat.platform.segments.fields import FIELDS, Kind, Op, TagMatch
from drumbeat.schema.contacts import Consent

KIND_LABELS = {Kind.TEXT: "Text", Kind.INTEGER: "Whole number", Kind.DATE: "Date",
               Kind.DAY: "Timestamp", Kind.AGE: "Whole number"}
SegmentField = strawberry.enum(
    Enum("SegmentField", {name: strawberry.enum_value(
        name, description=f"{KIND_LABELS[spec.kind]}. {spec.description}".strip())
        for name, spec in FIELDS.items()}),
    description="A filterable field of a contact (or, COMPANY_*, of the contact's company).",
)
SegmentOp = strawberry.enum(Op, name="SegmentOp", description=(
    "Text compares case-insensitively; CONTAINS and STARTS_WITH match literally (% and _ "
    "included). NE, NOT_IN and IS_EMPTY are the exact negations of EQ, IN and IS_NOT_EMPTY. "
    "IN/NOT_IN take `values`; BETWEEN takes `values: [low, high]` (inclusive); "
    "IS_EMPTY/IS_NOT_EMPTY take no value; the others take `value`."))
SegmentTagMatch = strawberry.enum(TagMatch, name="SegmentTagMatch")

VALUE = "Text, a whole number or a date (YYYY-MM-DD), by the field's type."


@strawberry.input(description="A condition on a contact or company field.")
class SegmentFieldCondition:
    field: SegmentField
    op: SegmentOp
    value: Optional[JSON] = strawberry.field(default=None, description=VALUE)
    values: Optional[list[JSON]] = strawberry.field(default=None, description=VALUE)


@strawberry.input(description="A condition on a custom attribute, compared as text, number or "
                               "boolean by the type of the value(s) given.")
class SegmentAttributeCondition:
    name: str
    op: SegmentOp
    value: Optional[JSON] = None
    values: Optional[list[JSON]] = None


@strawberry.input(description="Has any / all / none of the tags (case-insensitive).")
class SegmentTagsCondition:
    match: SegmentTagMatch
    tags: list[str]


@strawberry.input(description="The last `lastDays` days up to today (UTC), or `from`…`to` "
                               "(inclusive, either may be left open). None: all time.")
class SegmentPeriod:
    last_days: Optional[int] = None
    from_: Optional[date] = strawberry.field(default=None, name="from")
    to: Optional[date] = None


@strawberry.input(description="Bought any of the products or categories (none given: anything) "
                               "within the period.")
class SegmentBoughtCondition:
    product_ids: Optional[list[relay.GlobalID]] = None
    categories: Optional[list[str]] = None
    period: Optional[SegmentPeriod] = None


@strawberry.input(description="Total spend in one currency (on the products or categories, if "
                               "given) within the period, compared with `amount`.")
class SegmentSpendCondition:
    op: SegmentOp
    amount: Decimal
    currency: str
    product_ids: Optional[list[relay.GlobalID]] = None
    categories: Optional[list[str]] = None
    period: Optional[SegmentPeriod] = None


@strawberry.input(description="Number of purchases within the period, compared with `count`.")
class SegmentPurchaseCountCondition:
    op: SegmentOp
    count: int
    product_ids: Optional[list[relay.GlobalID]] = None
    categories: Optional[list[str]] = None
    period: Optional[SegmentPeriod] = None


@strawberry.input(description="Interested in any of the products or categories (none given: "
                               "in any product).")
class SegmentInterestCondition:
    product_ids: Optional[list[relay.GlobalID]] = None
    categories: Optional[list[str]] = None


@strawberry.input(one_of=True, description=(
    "A filter over contacts: exactly one key. Combine with all / any / not (at most 10 "
    "levels, 200 conditions). Stored segments keep this shape as JSON."))
class SegmentFilter:
    all: Optional[list[SegmentFilter]] = strawberry.UNSET
    any: Optional[list[SegmentFilter]] = strawberry.UNSET
    not_: Optional[SegmentFilter] = strawberry.field(default=strawberry.UNSET, name="not")
    field: Optional[SegmentFieldCondition] = strawberry.UNSET
    tags: Optional[SegmentTagsCondition] = strawberry.UNSET
    attribute: Optional[SegmentAttributeCondition] = strawberry.UNSET
    consent: Optional[list[Consent]] = strawberry.field(
        default=strawberry.UNSET, description="Consent is one of these.")
    unsubscribed: Optional[bool] = strawberry.UNSET
    bounced: Optional[bool] = strawberry.UNSET
    bought: Optional[SegmentBoughtCondition] = strawberry.UNSET
    spend: Optional[SegmentSpendCondition] = strawberry.UNSET
    purchase_count: Optional[SegmentPurchaseCountCondition] = strawberry.UNSET
    interest: Optional[SegmentInterestCondition] = strawberry.UNSET


def filter_json(value: Any) -> Any:
    """The JSON form of a ``SegmentFilter`` input: GraphQL names, enum names, ISO dates,
    decimal strings; product ids decoded to integers (a foreign id stays a string, which
    validation reports)."""
    if value is None or value is strawberry.UNSET:
        return None
    if isinstance(value, list):
        return [filter_json(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, relay.GlobalID):
        return int(value.node_id) if value.type_name == "Product" and value.node_id.isdigit() \
            else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    definition = get_object_definition(value)
    if definition is None:
        return value
    result = {}
    for field in definition.fields:
        item = getattr(value, field.python_name)
        if item is not None and item is not strawberry.UNSET:
            result[field.graphql_name or to_camel_case(field.python_name)] = filter_json(item)
    return result


def filter_for_api(value: Any) -> Any:
    """A stored filter with its product ids as global ids, ready to be sent back as input."""
    if isinstance(value, list):
        return [filter_for_api(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: ([str(relay.GlobalID("Product", str(i))) for i in item]
                  if key == "productIds" and isinstance(item, list) else filter_for_api(item))
            for key, item in value.items()}
