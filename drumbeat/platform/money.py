"""Exact money: amounts are ``Decimal`` in the API and integer hundredths in the database.

Never floats. An amount with more than two decimal places is refused (not rounded), so what
a user typed is what is stored.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from drumbeat.platform.errors import ErrorCode, Problems

HUNDREDTH = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000000")  # 10^12 units: far beyond any campaign, well inside int64
CURRENCY = re.compile(r"^[A-Z]{3}$")


def to_cents(amount: Decimal) -> int:
    """``Decimal('12.30')`` → ``1230``; raises ``ValueError`` beyond two decimal places."""
    if not amount.is_finite():
        raise ValueError("not a finite number")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("more than two decimal places")
    return int(cents)


def from_cents(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(int(cents)) / 100).quantize(HUNDREDTH)


def parse_decimal(value: object) -> Decimal | None:
    """A Decimal from an API value (Decimal, int or numeric string), or None when it is not one."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        return None  # floats are never money: send a string or a Decimal
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def check_amount(problems: Problems, value: Decimal | None, *field: str | int,
                 allow_negative: bool = False, allow_zero: bool = True) -> int | None:
    """Validate an amount and return it in cents (``None`` and a problem when invalid)."""
    if value is None:
        return None
    try:
        cents = to_cents(value)
    except (ValueError, InvalidOperation) as exc:
        problems.add(f"Not a valid amount: {exc}.", ErrorCode.INVALID, *field)
        return None
    if abs(value) > MAX_AMOUNT:
        problems.add(f"At most {MAX_AMOUNT:,} per amount.", ErrorCode.INVALID, *field)
        return None
    if cents < 0 and not allow_negative:
        problems.add("The amount cannot be negative.", ErrorCode.INVALID, *field)
        return None
    if cents == 0 and not allow_zero:
        problems.add("The amount must be more than zero.", ErrorCode.INVALID, *field)
        return None
    return cents


def check_currency(problems: Problems, value: str | None, *field: str | int) -> str | None:
    code = (value or "").strip().upper()
    if not CURRENCY.match(code):
        problems.add("A currency is a three-letter ISO 4217 code such as EUR.",
                     ErrorCode.INVALID, *field)
        return None
    return code
