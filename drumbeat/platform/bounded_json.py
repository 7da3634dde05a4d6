"""JSON from outside (request bodies, WebSocket messages, CSV cells) with bounded nesting.

Python's ``json.loads`` recurses once per level: ``[[[[…]]]]`` 100,000 deep raises
``RecursionError`` (a bare 500 when it escapes a request), and a few hundred levels that do
parse can still overflow the code walking the value afterwards. :func:`loads` refuses more
than :data:`MAX_DEPTH` levels with :class:`TooDeeplyNested` — a ``json.JSONDecodeError``, so
every caller that already turns bad JSON into a clear 400 does the same for a nesting bomb.
The check after parsing walks the value with a stack (no recursion), once.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # far beyond any real GraphQL request (a segment filter nests 10 levels)


class TooDeeplyNested(json.JSONDecodeError):
    def __init__(self, max_depth: int):
        # No document kept: it may be megabytes.
        super().__init__(f"JSON nested more than {max_depth} levels deep", "", 0)
        self.max_depth = max_depth

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self):  # JSONDecodeError's own takes (msg, doc, pos)
        return TooDeeplyNested, (self.max_depth,)


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(data)``, refusing more than ``max_depth`` levels of arrays/objects."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeeplyNested(max_depth) from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`TooDeeplyNested` when ``value`` nests lists/dicts deeper than
    ``max_depth`` (the top level is 1). Linear in the number of containers, no recursion."""
    if not isinstance(value, (list, dict)):
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise TooDeeplyNested(max_depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
