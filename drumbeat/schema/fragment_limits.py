"""A bound on how deeply fragments spread into fragments, checked before validation.

graphql-core's parser already refuses a document nested too deeply, and
``QueryDepthLimiter`` bounds the selection depth; but a chain of fragments each spreading
the next (``fragment F1 on Query { ...F2 }`` …, a few hundred of them within the token
limit) is walked recursively by validation and the depth limiter, which then fail with
"maximum recursion depth exceeded". :class:`FragmentNestingLimiter` measures the longest
chain with an explicit stack and refuses the document with a clear error first.
"""

from __future__ import annotations

from typing import Iterator

from graphql import (
    DocumentNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, Node,
    OperationDefinitionNode,
)
from strawberry.extensions import SchemaExtension


def _spreads(definition: Node) -> set[str]:
    """Names of the fragments spread anywhere inside ``definition`` (no recursion)."""
    names: set[str] = set()
    stack = [definition.selection_set]
    while stack:
        selection_set = stack.pop()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FragmentSpreadNode):
                names.add(selection.name.value)
            elif getattr(selection, "selection_set", None) is not None:
                stack.append(selection.selection_set)
    return names


def fragment_nesting(document: DocumentNode) -> int:
    """The longest chain of fragment spreads from any operation (cycles count once; the
    validation reports them)."""
    spreads = {d.name.value: _spreads(d) for d in document.definitions
               if isinstance(d, FragmentDefinitionNode)}
    depth: dict[str, int] = {}  # fragment → longest chain starting at it (itself included)
    for root in spreads:
        if root in depth:
            continue
        stack: list[tuple[str, bool]] = [(root, False)]
        on_path: set[str] = set()
        while stack:
            name, done = stack.pop()
            if done:
                on_path.discard(name)
                depth[name] = 1 + max((depth.get(n, 0) for n in spreads[name]
                                       if n in spreads and n not in on_path), default=0)
                continue
            if name in depth or name in on_path:
                continue
            on_path.add(name)
            stack.append((name, True))
            stack.extend((n, False) for n in spreads[name] if n in spreads and n not in depth)
    return max((depth.get(n, 0) for d in document.definitions
                if isinstance(d, OperationDefinitionNode) for n in _spreads(d)), default=0)


class FragmentNestingLimiter(SchemaExtension):
    def __init__(self, max_nesting: int):
        self.max_nesting = max_nesting

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None and fragment_nesting(document) > self.max_nesting:
            raise GraphQLError(
                f"Fragments spread into fragments at most {self.max_nesting} levels deep.")
        yield
