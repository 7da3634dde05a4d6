"""``UserError`` — field-level errors a front end can highlight — and error masking."""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

import strawberry
from graphql import GraphQLError

from drumbeat.platform.errors import MAX_SHOWN, DomainError, ErrorCode

UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path of the input field at fault, e.g. ['input', '3', 'email']."
    )
    message: str
    code: UserErrorCode


def user_errors(error: DomainError) -> list[UserError]:
    """The first ``MAX_SHOWN`` (100) problems; when there are more, a last entry with the
    code ``TOO_MANY_ERRORS`` gives their total."""
    shown = [
        UserError(field=list(p.field) if p.field else None, message=p.message, code=p.code)
        for p in error.problems[:MAX_SHOWN]
    ]
    if len(error.problems) > MAX_SHOWN:
        shown.append(UserError(
            field=None, code=ErrorCode.TOO_MANY_ERRORS,
            message=f"{len(error.problems)} problems in all; the first {MAX_SHOWN} are listed."))
    return shown


P = TypeVar("P")


async def payload(make: Callable[..., P], work: Callable[[], Awaitable[dict]], **empty) -> P:
    """Run a mutation: ``make(**fields, errors=[])`` from ``work()``'s fields, or, when the
    service refuses, ``make(**empty, errors=[…])`` with every problem it reported."""
    try:
        fields = await work()
    except DomainError as exc:
        return make(errors=user_errors(exc), **empty)
    return make(errors=[], **fields)


def should_mask_error(error: GraphQLError) -> bool:
    """Mask unexpected exceptions only: syntax, validation, limit and user errors stay."""
    original = error.original_error
    return original is not None and not isinstance(original, (DomainError, GraphQLError))
