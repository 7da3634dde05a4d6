"""What the API tells a caller about its own schema: introspection (``__schema``,
``__type``) and graphql-core's "Did you mean …?" hints in error messages.

Both are on in development (GraphiQL needs introspection) and off in production, where
they would map the API for anyone without a token; ``DRUMBEAT_INTROSPECTION=on|off``
overrides the default. The hints go with introspection: they give away names
(fields, arguments, enum values, input fields, types) that introspection would.
``__typename`` always works.
"""

from __future__ import annotations

import re

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection

# " Did you mean 'a', 'b', or 'c'?" / " Did you mean the enum value 'X'?" (GraphQL names
# hold no "?").
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestion(message: str) -> str:
    return SUGGESTION.sub("", message)


class QuietSchema(strawberry.Schema):
    """A schema whose errors carry no "Did you mean …?" hint — those of validation and of
    variable coercion alike (every error passes ``_process_errors``)."""

    def _process_errors(self, errors: list[GraphQLError], execution_context=None) -> None:
        for error in errors:
            error.message = without_suggestion(error.message)
        super()._process_errors(errors, execution_context)


def discovery_extensions(introspection: bool) -> list:
    return [] if introspection else [DisableIntrospection]
