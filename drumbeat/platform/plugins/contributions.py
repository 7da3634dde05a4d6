"""What a plugin's ``drumbeat_graphql`` hook returns: its part of the GraphQL schema."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GraphQLContribution:
    """Strawberry types whose fields join the root types, and extra types to register.

    Each of ``query``, ``mutation`` and ``subscription`` is a ``@strawberry.type`` class
    (or ``None``); its fields are merged into the schema's root type of that name, so a
    field name may be used by one contributor only (the schema refuses duplicates).
    ``types`` lists types reachable only through an interface (e.g. a ``Node``).
    """

    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    types: tuple[type, ...] = ()
