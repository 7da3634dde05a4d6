"""Exact money for sales documents: decimal strings in, integer cents stored, never floats.

A line's net is ``quantity × unit price`` and its tax ``net × rate / 100``, each rounded
half-up to the cent per line; a document's totals are the sums of its lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Sequence

HUNDREDTH = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")  # a billion per amount: far beyond any line


def parse_decimal(value: Any, places: int, what: str) -> Decimal:
    """A Decimal from a string or an integer with at most ``places`` decimals (raises
    ``ValueError`` with a message for the user; floats are refused: they are not exact)."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"give the {what} as a string such as \"12.50\", not a float")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a decimal number")
    if number != number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):
        raise ValueError(f"the {what} has more than {places} decimal places")
    if abs(number) > MAX_AMOUNT:
        raise ValueError(f"the {what} is larger than {MAX_AMOUNT:,}")
    return number


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_cents(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(int(cents)) / 100).quantize(HUNDREDTH)


def _round_cents(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Totals:
    lines: list[dict]  # JSON-ready, with each line's net and tax in cents
    net_cents: int
    tax_cents: int
    gross_cents: int


def totals(lines: Sequence[Any]) -> Totals:
    """The lines (``description``, ``quantity``, ``unit_price``, ``tax_rate`` Decimals)
    with their amounts, and the document's totals."""
    out, net_total, tax_total = [], 0, 0
    for line in lines:
        unit_cents = to_cents(line.unit_price)
        net = _round_cents(line.quantity * unit_cents)
        tax = _round_cents(net * line.tax_rate / 100)
        net_total += net
        tax_total += tax
        out.append({"description": line.description, "quantity": str(line.quantity),
                    "unitPriceCents": unit_cents, "taxRate": str(line.tax_rate),
                    "netCents": net, "taxCents": tax})
    return Totals(out, net_total, tax_total, net_total + tax_total)


def money_text(cents: int) -> str:
    """``123456`` → ``"1,234.56"`` (for documents)."""
    return f"{from_cents(cents):,.2f}"
