"""One GraphQL execution and one JSON encoding per subscription event, however many
clients subscribed with the same operation.

Without this, every subscriber of a campaign runs its own GraphQL execution of each event
and encodes its own ``next`` frame (~0.2 ms each; with 1000 subscribers, ~0.2 s of one
core per event — bench/fanout). Here:

- ``install()`` wraps graphql-core's ``Executor.build_per_event_executor``: when the event
  payload is an instance of a type marked ``@shareable`` and the same operation (query
  text, operation name, variables, schema) already executed that very payload object
  without errors, the stored ``ExecutionResult`` is returned instead of executing again.
  Results with errors are never shared: each subscriber executes, logs and masks its own.
- ``encode_next(message, dumps)`` encodes a ``next`` message whose data is such a shared
  result once, and wraps the stored payload JSON with each subscriber's operation id.

Sharing is keyed by the payload's identity, so a subscriber sees a shared result only for
the very object its own subscription yielded (its own filters, its own ``missed``); the
resolver hands every subscriber the same object for the same event only when the values
are the same (``CampaignEvent.shared``).

A type may be marked ``@shareable`` only if no field below it reads ``info.context``, the
member or anything else outside the payload and the operation's variables: its result is
then the same for every subscriber. Every key holds the objects it names (by identity)
alive, so an identity is never reused while its entry exists.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from enum import Enum
from typing import Any, Callable

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.executor import Executor
from strawberry import relay

RESULTS_KEPT = 512  # (operation, event) results; a subscriber further behind re-executes
FRAMES_KEPT = 512

_shareable: set[type] = set()


def shareable(cls: type) -> type:
    """Mark a subscription payload type whose execution result is the same for every
    subscriber (see the module docstring)."""
    _shareable.add(cls)
    return cls


class Lru:
    """A small least-recently-used map (thread-safe: tests run a server's loop in a thread)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class _Unshareable(Exception):
    pass


_SCALARS = (str, int, float, bool, type(None))


def freeze(value: Any) -> Any:
    """A hashable value equal exactly when the coerced variable values are; raises
    ``_Unshareable`` for values it does not know."""
    kind = type(value)
    if kind in _SCALARS:
        return (kind.__name__, value)
    if isinstance(value, Enum):
        return ("enum", kind.__module__, kind.__qualname__, value.name)
    if kind is relay.GlobalID:
        return ("id", value.type_name, value.node_id)
    if kind is dict:
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if kind in (list, tuple):
        return ("list", tuple(freeze(v) for v in value))
    raise _Unshareable(kind)


def share_key(executor: Executor, payload: Any) -> tuple | None:
    """The key of this (operation, event) execution, or ``None`` when it is not shared."""
    if type(payload) not in _shareable:
        return None
    middleware = executor.middleware_manager
    if middleware is not None and middleware.middlewares:
        return None  # resolve hooks may depend on the subscriber
    operation = executor.operation
    if operation.loc is None:
        return None
    variables = executor.variable_values  # graphql-core 3.3: a VariableValues container
    try:
        variables = freeze(getattr(variables, "coerced", variables))
    except _Unshareable:
        return None
    name = operation.name.value if operation.name else None
    return (id(executor.schema), operation.loc.source.body, name, variables, id(payload))


_results = Lru(RESULTS_KEPT)
stats = {"executed": 0, "shared": 0}  # per-event executions of shareable payloads
_frames = Lru(FRAMES_KEPT)  # id(shared data) -> [data, payload JSON or None]


class _Stored:
    """Stands in for a per-event executor: the result another subscriber computed."""

    __slots__ = ("result",)

    def __init__(self, result: GraphQLExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> GraphQLExecutionResult:
        return self.result


class _Recording:
    """A per-event executor that stores its result when it may be shared."""

    __slots__ = ("executor", "key", "keep")

    def __init__(self, executor: Executor, key: tuple, keep: tuple) -> None:
        self.executor, self.key, self.keep = executor, key, keep

    def execute_operation(self, serially: bool | None = None):
        result = self.executor.execute_operation(serially)
        if type(result) is GraphQLExecutionResult and not result.errors and not result.extensions:
            _results.put(self.key, (result, self.keep))  # keep: the objects the key names
            _frames.put(id(result.data), [result.data, None])  # encoded on first send
        return result


def _wrap(build: Callable) -> Callable:
    def build_per_event_executor(self, payload):
        key = share_key(self, payload)
        if key is None:
            return build(self, payload)
        stored = _results.get(key)
        if stored is not None:
            stats["shared"] += 1
            return _Stored(stored[0])
        stats["executed"] += 1
        return _Recording(build(self, payload), key, (self.schema, payload))

    build_per_event_executor.shares_results = True
    build_per_event_executor.fresh_memo = getattr(build, "fresh_memo", False)
    return build_per_event_executor


def install() -> None:
    """Wrap graphql-core's per-event executor (after ``per_event_memo.install``).
    Idempotent."""
    current = Executor.build_per_event_executor
    if not getattr(current, "shares_results", False):
        Executor.build_per_event_executor = _wrap(current)


# -- the ``next`` frame ---------------------------------------------------------------------


def encode_next(message: Any, dumps: Callable[[Any], str]) -> str | None:
    """The JSON of a graphql-transport-ws ``next`` message whose data is a shared result,
    its payload encoded once; ``None`` for any other message."""
    if type(message) is not dict or message.get("type") != "next" or len(message) != 3:
        return None
    payload = message.get("payload")
    if type(payload) is not dict or len(payload) != 1 or "data" not in payload:
        return None
    data = payload["data"]
    stored = _frames.get(id(data))
    if stored is None or stored[0] is not data:
        return None
    if stored[1] is None:
        stored[1] = dumps(payload)
    return f'{{"id":{dumps(message["id"])},"type":"next","payload":{stored[1]}}}'
