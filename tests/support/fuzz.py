"""The pieces of the schema fuzz run (tests/test_fuzz_schema.py): value strategies for the
custom scalars, a pool of real ids harvested from the answers, and what the server logged
while it answered one request.

What counts as a finding — the schema masks errors in drumbeat/schema/errors.py
(``should_mask_error``): an error whose original exception is neither a ``DomainError`` nor
a ``GraphQLError`` reaches the client as "Unexpected error." with nothing else. So, per
request:

* **HTTP 5xx** — the request escaped the GraphQL layer;
* **unmasked error** — the text of an exception the server raised internally (any one
  logged while answering, not a ``DomainError``/``GraphQLError``) appears in the answer; or
  an error message of the answer (top-level or a payload's ``UserError``) reads like a
  Python or database exception (a traceback, ``'NoneType' object has no attribute``,
  ``UNIQUE constraint failed``, …: an internal exception's text passed on as a message); or
  the answer carries an ``exception``/``stacktrace`` extension;
* **internal error** — the server raised such an exception at all (masked or not): a
  well-typed request hit a bug instead of a user error.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import string
from dataclasses import dataclass, field
from datetime import timezone

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from drumbeat.platform.errors import DomainError

MASKED = "Unexpected error."

# What an internal exception's text looks like, as opposed to a message written for a user.
EXCEPTION_TEXT = re.compile("|".join((
    r"Traceback \(most recent call last\)", r'File "[^"]+\.py", line \d+',
    r"\b(?:Key|Type|Value|Attribute|Index|ZeroDivision|Assertion|Recursion|Runtime|Lookup|"
    r"Integrity|Operational|Programming|Interface|Database|Data)Error\b",
    r"object has no attribute", r"NoneType", r"not subscriptable", r"unsupported operand",
    r"invalid literal for int\(\)", r"takes \d+ positional argument", r"unexpected keyword argument",
    r"\bsqlite3?\b", r"\basyncpg\b", r"\bpiccolo\b", r"UNIQUE constraint failed",
    r"violates (?:unique|foreign key|not-null|check) constraint", r"syntax error at or near",
    r"no such (?:table|column)", r"<(?:function|bound method|built-in) ", r" at 0x[0-9a-f]+>",
)))


# -- values ---------------------------------------------------------------------------------

def _json_node(value) -> graphql.ValueNode:
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                         for k, v in value.items()])


_KEYS = st.text(string.ascii_letters + "_", min_size=1, max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=8,
)


class IdPool:
    """Global ids seen in answers, offered back as ``ID`` arguments (besides random text),
    so that arguments name objects that exist. ``spare`` ids are never offered: the fuzzing
    member's own ids (revoking its own token would end the run)."""

    def __init__(self, spare: set[str] = frozenset()):
        self.ids: list[str] = []
        self._by_type: dict[str, list[str]] = {}
        self._seen: set[str] = set(spare)

    def harvest(self, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                type_name = _global_id_type(item) if key == "id" else None
                if type_name:
                    if item not in self._seen:
                        self._seen.add(item)
                        self.ids.append(item)
                        self._by_type.setdefault(type_name, []).append(item)
                else:
                    self.harvest(item)
        elif isinstance(value, list):
            for item in value:
                self.harvest(item)

    def pick(self, i: int, j: int) -> str:
        """A known id: of the ``i``-th type seen, its ``j``-th id (types first, so that the
        few campaigns are offered as often as the many contacts)."""
        if not self.ids:
            return ""
        of_type = list(self._by_type.values())[i % len(self._by_type)]
        return of_type[j % len(of_type)]

    def strategy(self) -> st.SearchStrategy[str]:
        known = st.builds(self.pick, st.integers(0, 10**6), st.integers(0, 10**6))
        return st.integers(0, 7).flatmap(lambda n: st.text(max_size=20) if n == 0 else known)


def _global_id_type(value) -> str | None:
    """The type name of a relay global id (base64 of ``Type:id``), else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        type_name, _, node_id = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return type_name if type_name.isidentifier() and node_id else None


def global_id(type_name: str, node_id: int) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def custom_scalars(pool: IdPool) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    junk = st.text(max_size=20)
    return {
        # Mostly in the range page sizes, counts and indexes take, sometimes anywhere.
        "Int": st.one_of(st.integers(-2, 120), st.integers(-2, 120),
                         st.integers(-2**31, 2**31 - 1)).map(nodes.Int),
        "ID": pool.strategy().map(nodes.String),
        "Date": (st.dates().map(lambda d: d.isoformat()) | junk).map(nodes.String),
        "DateTime": (st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat())
                     | junk).map(nodes.String),
        "Decimal": (st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)
                    | junk).map(nodes.String),
        "JSON": _JSON.map(_json_node),
    }


# -- what the server logged -----------------------------------------------------------------

def _internal(exc: BaseException | None) -> bool:
    return exc is not None and not isinstance(exc, (DomainError, graphql.GraphQLError))


class ServerLog(logging.Handler):
    """Collects, from the in-process server, the exceptions behind GraphQL errors
    (Strawberry logs each one before masking) and uncaught ASGI exceptions (uvicorn)."""

    LOGGERS = ("strawberry.execution", "uvicorn.error")

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.exceptions: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(record.msg, graphql.GraphQLError):
            exc = record.msg.original_error or exc
        if _internal(exc):
            self.exceptions.append(exc)

    def __enter__(self) -> "ServerLog":
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def take(self) -> list[BaseException]:
        taken, self.exceptions = self.exceptions, []
        return taken


@dataclass
class Findings:
    """Findings by kind and operation, each with the first request that showed it."""

    items: dict[tuple[str, str, str], str] = field(default_factory=dict)
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, kind: str, operation: str, what: str, example: str) -> None:
        key = (kind, operation, what[:200])
        self.items.setdefault(key, example)
        self.counts[key] = self.counts.get(key, 0) + 1

    def check(self, operation: str, query: str, status: int, body: str,
              raised: list[BaseException]) -> None:
        example = f"{query[:600]}\n  -> HTTP {status} {body[:400]}"
        if status >= 500:
            self.add("HTTP 5xx", operation, f"HTTP {status}", example)
        for exc in raised:
            text = str(exc)
            self.add("internal error", operation, f"{type(exc).__name__}: {text}", example)
            if len(text) >= 8 and json.dumps(text)[1:-1] in body:
                self.add("unmasked error", operation, f"{type(exc).__name__}: {text}", example)
        if '"stacktrace"' in body or '"exception"' in body:
            self.add("unmasked error", operation, "exception details in the answer", example)
        try:
            answer = json.loads(body)
        except ValueError:
            return
        for message in _messages(answer):
            if EXCEPTION_TEXT.search(message):
                self.add("unmasked error", operation, f"message {message[:150]!r}", example)

    def of(self, *kinds: str) -> list[str]:
        return [f"[{kind}] {operation}: {what} (x{self.counts[(kind, operation, what)]})\n  {ex}"
                for (kind, operation, what), ex in self.items.items() if kind in kinds]


def _messages(value) -> list[str]:
    """Every ``message`` string of an answer: its errors' and its payloads' UserErrors'."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "message" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_messages(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_messages(item))
    return found
