"""JSON from outside (request bodies, WebSocket messages, CSV cells) with bounded nesting.

Python's ``json.loads`` recurses once per level: ``[[[[…]]]]`` 100,000 deep raises
``RecursionError`` (a bare 500 when it escapes a request), and a few hundred levels that do
parse can still overflow the code walking the value afterwards. :func:`loads` refuses more
than :data:`MAX_DEPTH` levels, and more than :data:`MAX_VALUES` values in all (GraphQL then
coerces each one on the event loop), with :class:`TooLargeJSON` — a ``json.JSONDecodeError``,
so every caller that already turns bad JSON into a clear 400 does the same for a bomb. The
check after parsing walks the containers with a stack (no recursion), once, and counts each
container's items by its length before looking at them.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # far beyond any real GraphQL request (a segment filter nests 10 levels)
# Values in one document: the largest real requests (1000 contacts with their fields and
# tags; 3 × 10,000 recipient ids) stay well below; a CSV import is one string.
MAX_VALUES = 200_000


class TooLargeJSON(json.JSONDecodeError):
    def __init__(self, message: str):
        # No document kept: it may be megabytes.
        super().__init__(message, "", 0)

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self):  # JSONDecodeError's own takes (msg, doc, pos)
        return TooLargeJSON, (self.msg,)


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH,
          max_values: int = MAX_VALUES) -> Any:
    """``json.loads(data)``, refusing more than ``max_depth`` levels of arrays/objects or
    more than ``max_values`` values."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooLargeJSON(f"JSON nested more than {max_depth} levels deep") from None
    check_size(value, max_depth, max_values)
    return value


def check_size(value: Any, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
    """Raise :class:`TooLargeJSON` when ``value`` nests lists/dicts deeper than
    ``max_depth`` (the top level is 1) or holds more than ``max_values`` values. Linear in
    the number of values, no recursion."""
    if not isinstance(value, (list, dict)):
        return
    stack = [(value, 1)]
    total = 1
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise TooLargeJSON(f"JSON nested more than {max_depth} levels deep")
        total += len(item)
        if total > max_values:
            raise TooLargeJSON(f"JSON with more than {max_values} values")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
