"""No NUL character reaches a resolver: a request whose variables or string literals hold
one (``\\u0000``) is refused before execution with a validation error.

NUL is never meaningful text: PostgreSQL cannot store it (a query with one fails), and
SQLite ends a LIKE pattern at it — ``CONTAINS "\\u0000"`` matched every contact. Other
control characters are refused where they make no sense, by the services (search and
filter values: :func:`drumbeat.platform.validation.search_text_problem`; names and
addresses: ``is_header_safe``).
"""

from __future__ import annotations

from typing import Any, Iterator

from graphql import GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

MESSAGE = "Text may not contain NUL characters (\\u0000)."


def has_nul(value: Any) -> bool:
    """Whether ``value`` (a decoded JSON value) holds a NUL in a string or an object key."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: StringValueNode | None = None

    def enter_string_value(self, node: StringValueNode, *_args) -> Any:
        if "\x00" in node.value:
            self.found = node
            return self.BREAK
        return None


class RefuseNul(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        error = None
        if has_nul(context.variables):
            error = GraphQLError(MESSAGE)
        elif context.graphql_document is not None:
            literals = _Literals()
            visit(context.graphql_document, literals)
            if literals.found is not None:
                error = GraphQLError(MESSAGE, nodes=[literals.found])
        if error is not None:
            context.pre_execution_errors = [error]  # validation then stops with it
        yield
