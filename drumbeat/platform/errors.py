"""Errors the services raise for the user to fix: each a code, a message and a field path.

The GraphQL layer turns them into ``UserError``s; the CLI prints them. Anything else that
escapes a service is a bug and is masked from API clients.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence


class ErrorCode(str, Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_STATE = "INVALID_STATE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    NO_RECIPIENTS = "NO_RECIPIENTS"
    UNKNOWN_ACTION_TYPE = "UNKNOWN_ACTION_TYPE"
    INVALID_CONFIG = "INVALID_CONFIG"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    LAST_ADMIN = "LAST_ADMIN"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_OPERATOR = "INVALID_OPERATOR"
    WRONG_VALUE_TYPE = "WRONG_VALUE_TYPE"
    FILTER_TOO_DEEP = "FILTER_TOO_DEEP"
    FILTER_TOO_LARGE = "FILTER_TOO_LARGE"
    NO_START = "NO_START"
    MULTIPLE_STARTS = "MULTIPLE_STARTS"
    UNREACHABLE_STATE = "UNREACHABLE_STATE"
    DANGLING_TRANSITION = "DANGLING_TRANSITION"
    INSTANT_CYCLE = "INSTANT_CYCLE"
    UNMAPPED_STATE = "UNMAPPED_STATE"
    TOO_MANY_ERRORS = "TOO_MANY_ERRORS"  # the summary closing a truncated list of problems


MAX_SHOWN = 100  # problems listed in a message or an API answer; the rest are counted


@dataclass(frozen=True)
class Problem:
    message: str
    code: ErrorCode
    field: tuple[str, ...] | None = None


class DomainError(Exception):
    """One or more problems with a request; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        message = "; ".join(p.message for p in self.problems[:MAX_SHOWN])
        if len(self.problems) > MAX_SHOWN:
            message += f"; … {len(self.problems)} problems in all"
        super().__init__(message)

    @classmethod
    def one(cls, message: str, code: ErrorCode, field: Sequence[str] | None = None) -> "DomainError":
        return cls([Problem(message, code, tuple(field) if field else None)])


class Problems:
    """Collects every problem of an input, so all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, message: str, code: ErrorCode, *field: str | int) -> None:
        self.items.append(Problem(message, code, tuple(str(f) for f in field) or None))

    def raise_if_any(self) -> None:
        if self.items:
            raise DomainError(self.items)


@asynccontextmanager
async def unique_violation_as(index: str, message: str, *field: str):
    """Turn a violation of the unique index ``index`` (a concurrent twin slipping past the
    service's own check) into a ``DUPLICATE`` problem. Both databases name the index in
    their error message."""
    try:
        yield
    except Exception as exc:
        if index in str(exc):
            raise DomainError.one(message, ErrorCode.DUPLICATE, field) from None
        raise
