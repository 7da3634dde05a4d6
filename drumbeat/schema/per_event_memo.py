"""Workaround for unbounded memory growth of long-lived subscriptions in graphql-core 3.3.

``Executor.build_per_event_executor`` makes a shallow copy of the subscription's executor
for each event, so every event shares the subscription's ``_relevant_sub_fields`` memo.
That memo is keyed by the identity of the (new, per-event) root field list, so it gains an
entry — about 16 objects — per event per subscription and never drops one: with 1000
subscribers, millions of objects after a few minutes and full GC pauses of seconds
(bench/fanout). Giving each event its own memo keeps the memo's purpose (within one
event's lists) and releases it with the event.
"""

from __future__ import annotations

from graphql.execution.executor import Executor

_original = Executor.build_per_event_executor


def _per_event_executor(self, payload):
    executor = _original(self, payload)
    if isinstance(getattr(executor, "_relevant_sub_fields", None), dict):
        executor._relevant_sub_fields = {}
    return executor


_per_event_executor.fresh_memo = True


def install() -> None:
    """Idempotent (also under wrappers that keep the mark, as shared_results does)."""
    if not getattr(Executor.build_per_event_executor, "fresh_memo", False):
        Executor.build_per_event_executor = _per_event_executor
