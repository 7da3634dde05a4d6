"""The typed filter: the nodes :func:`~drumbeat.platform.segments.filter.parse_filter`
returns and :mod:`~drumbeat.platform.segments.compile` turns into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Union

from drumbeat.platform.segments.fields import FieldSpec, Kind, Op, TagMatch


@dataclass(frozen=True)
class AllOf:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


@dataclass(frozen=True)
class FieldCondition:
    spec: FieldSpec
    op: Op
    values: tuple  # text lower-cased; dates as date; integers as int


@dataclass(frozen=True)
class AttributeCondition:
    name: str
    op: Op
    kind: Kind | None  # TEXT, NUMBER or BOOLEAN; None for IS_EMPTY / IS_NOT_EMPTY
    values: tuple


@dataclass(frozen=True)
class TagsCondition:
    match: TagMatch
    tags: tuple[str, ...]  # lower-cased, distinct


@dataclass(frozen=True)
class ConsentCondition:
    values: tuple[str, ...]


@dataclass(frozen=True)
class FlagCondition:
    column: str  # "unsubscribed" or "bounced"
    value: bool


@dataclass(frozen=True)
class Products:
    """Which products count: the given ids or categories (either matches); none = all."""

    ids: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()  # lower-cased


@dataclass(frozen=True)
class Period:
    """Purchase dates: the last ``last_days`` days up to today, or ``start``…``end``."""

    last_days: int | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class BoughtCondition:
    products: Products
    period: Period


@dataclass(frozen=True)
class SpendCondition:
    op: Op
    cents: int
    currency: str
    products: Products
    period: Period


@dataclass(frozen=True)
class PurchaseCountCondition:
    op: Op
    count: int
    products: Products
    period: Period


@dataclass(frozen=True)
class InterestCondition:
    products: Products


Node = Union[AllOf, AnyOf, Not, FieldCondition, AttributeCondition, TagsCondition,
             ConsentCondition, FlagCondition, BoughtCondition, SpendCondition,
             PurchaseCountCondition, InterestCondition]


def product_ids(node: Node) -> set[int]:
    """Every product id a filter names."""
    if isinstance(node, (AllOf, AnyOf)):
        return set().union(*(product_ids(i) for i in node.items))
    if isinstance(node, Not):
        return product_ids(node.item)
    products = getattr(node, "products", None)
    return set(products.ids) if products else set()
