"""Workflow definitions: JSON in (see :mod:`.model`), every problem with its field path out,
and the normalised definition that is stored.

Pure Python: the checks of action configs and segment filters are passed in, so the whole
module is tested without a database (:func:`check_definition`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.workflows import durations
from drumbeat.platform.workflows.graph import Edge, check_graph
from drumbeat.platform.workflows.model import (
    INSTANT, KEY_PATTERN, MAX_ACTIONS, MAX_GOALS, MAX_NAME, MAX_PATHS, MAX_STATES,
    MAX_TRANSITIONS, MAX_WEIGHT, OUTCOME_PATTERN, RECIPIENT_TIMEZONE, TransitionKind,
    Weekday, WorkflowEvent,
)

Path = tuple[str, ...]
#: ``check_action(problems, type, config, *path)``: report the problems of one action.
ActionCheck = Callable[..., None]
#: ``check_filter(problems, filter, *path)``: report a segment filter's problems; its node.
FilterCheck = Callable[..., Any]

_KEY = re.compile(KEY_PATTERN)
_OUTCOME = re.compile(OUTCOME_PATTERN)
_DURATION_KEYS = ({"iso"}, {"amount", "unit"}, {"seconds"})


@dataclass
class Checked:
    """The normalised definition, the filters found in it (for checks needing a database)
    and whether it is valid."""

    definition: dict
    filters: list[tuple[Any, Path]] = field(default_factory=list)


def check_definition(problems: Problems, data: Any, check_action: ActionCheck,
                     check_filter: FilterCheck, *path: str) -> Checked:
    """Validate a workflow definition, adding every problem to ``problems``."""
    parser = _Parser(problems, check_action, check_filter)
    definition = parser.definition(data, tuple(path))
    check_graph(problems, definition["states"], parser.edges, (*path, "states"))
    return Checked(definition, parser.filters)


class _Parser:
    def __init__(self, problems: Problems, check_action: ActionCheck, check_filter: FilterCheck):
        self.problems = problems
        self.check_action = check_action
        self.check_filter = check_filter
        self.edges: list[Edge] = []
        self.source = 0  # the index of the state being parsed
        self.filters: list[tuple[Any, Path]] = []

    def add(self, message: str, code: ErrorCode, path: Path) -> None:
        self.problems.add(message, code, *path)

    def definition(self, data: Any, path: Path) -> dict:
        body = data if isinstance(data, Mapping) else {}
        if not isinstance(data, Mapping):
            self.add("A workflow is an object with states.", ErrorCode.INVALID, path)
        states = self.items(body.get("states"), (*path, "states"), MAX_STATES, "states")
        goals = self.items(body.get("goals") or [], (*path, "goals"), MAX_GOALS, "goals")
        parsed = []
        for i, item in enumerate(states):
            self.source = i
            parsed.append(self.state(item, (*path, "states", str(i))))
        return {"states": parsed,
                "goals": [g for i, item in enumerate(goals)
                          if (g := self.goal(item, (*path, "goals", str(i)))) is not None]}

    def items(self, data: Any, path: Path, limit: int, what: str) -> list:
        if not isinstance(data, list):
            self.add(f"Give a list of {what}.", ErrorCode.REQUIRED, path)
            return []
        if len(data) > limit:
            self.add(f"At most {limit} {what}.", ErrorCode.TOO_LONG, path)
            return data[:limit]
        return data

    def text(self, value: Any, path: Path, what: str, pattern: re.Pattern | None = None,
             limit: int = MAX_NAME) -> str:
        if not isinstance(value, str) or not value.strip():
            self.add(f"Give {what}.", ErrorCode.REQUIRED, path)
            return ""
        value = value.strip()
        if len(value) > limit:
            self.add(f"{what[0].upper()}{what[1:]} is at most {limit} characters.",
                     ErrorCode.TOO_LONG, path)
        elif pattern is not None and not pattern.match(value):
            self.add(f"{value!r} is not {what}.", ErrorCode.INVALID, path)
        return value

    def state(self, data: Any, path: Path) -> dict:
        body = data if isinstance(data, Mapping) else {}
        key = self.text(body.get("key"), (*path, "key"),
                        "a state key (letters, digits, - _ .)", _KEY, 100)
        name = self.text(body.get("name"), (*path, "name"), "a name")
        actions = self.items(body.get("actions") or [], (*path, "actions"), MAX_ACTIONS, "actions")
        transitions = self.items(body.get("transitions") or [], (*path, "transitions"),
                                 MAX_TRANSITIONS, "transitions")
        state = {"key": key, "name": name, "start": body.get("start") is True,
                 "actions": [self.action(a, (*path, "actions", str(i)))
                             for i, a in enumerate(actions)],
                 "transitions": []}
        for i, item in enumerate(transitions):
            transition = self.transition(item, (*path, "transitions", str(i)))
            if transition is not None:
                state["transitions"].append(transition)
        self.combination(state["transitions"], (*path, "transitions"))
        return state

    def action(self, data: Any, path: Path) -> dict:
        body = data if isinstance(data, Mapping) else {}
        type_ = body.get("type") if isinstance(body.get("type"), str) else ""
        config = body.get("config") if isinstance(body.get("config"), Mapping) else {}
        if not isinstance(body.get("config", {}), Mapping):
            self.add("An action's config is an object.", ErrorCode.INVALID_CONFIG,
                     (*path, "config"))
        self.check_action(self.problems, type_, config, *path)
        return {"type": type_, "config": dict(config)}

    def transition(self, data: Any, path: Path) -> dict | None:
        keys = list(data) if isinstance(data, Mapping) else []
        if len(keys) != 1 or keys[0] not in {k.value for k in TransitionKind}:
            known = ", ".join(k.value for k in TransitionKind)
            self.add(f"A transition has exactly one of {known}.", ErrorCode.INVALID, path)
            return None
        kind = TransitionKind(keys[0])
        body = data[kind.value] if isinstance(data[kind.value], Mapping) else {}
        path = (*path, kind.value)
        parse = getattr(self, kind.name.lower())
        return {kind.value: parse(body, path)}

    def edge(self, body: Mapping, name: str, path: Path, instant: bool) -> str:
        target = self.text(body.get(name), (*path, name), "the key of the next state", None, 100)
        self.edges.append(Edge(self.source, target, (*path, name), instant))
        return target

    def on_complete(self, body: Mapping, path: Path) -> dict:
        return {"to": self.edge(body, "to", path, True)}

    def after_delay(self, body: Mapping, path: Path) -> dict:
        result = {"to": self.edge(body, "to", path, False),
                  "delay": self.duration(body.get("delay"), (*path, "delay"))}
        if body.get("window") is not None:
            result["window"] = self.window(body["window"], (*path, "window"))
        return result

    def on_event(self, body: Mapping, path: Path) -> dict:
        result = {"to": self.edge(body, "to", path, False),
                  "event": self.enum(body.get("event"), WorkflowEvent, (*path, "event"))}
        outcome = body.get("outcome")
        if result["event"] == WorkflowEvent.CALL_OUTCOME.value:
            result["outcome"] = self.text(outcome, (*path, "outcome"),
                                          "a call outcome (letters, digits, _)", _OUTCOME, 50)
        elif outcome is not None:
            self.add("Only a CALL_OUTCOME event names an outcome.", ErrorCode.INVALID,
                     (*path, "outcome"))
        if body.get("timeout") is not None:
            timeout = body["timeout"] if isinstance(body["timeout"], Mapping) else {}
            result["timeout"] = {
                "after": self.duration(timeout.get("after"), (*path, "timeout", "after")),
                "to": self.edge(timeout, "to", (*path, "timeout"), False)}
        return result

    def condition(self, body: Mapping, path: Path) -> dict:
        node = self.check_filter(self.problems, body.get("if"), *path, "if")
        if node is not None:
            self.filters.append((node, (*path, "if")))
        return {"if": body.get("if"), "then": self.edge(body, "then", path, True),
                "else": self.edge(body, "else", path, True)}

    def random_split(self, body: Mapping, path: Path) -> dict:
        paths = self.items(body.get("paths"), (*path, "paths"), MAX_PATHS, "paths")
        if isinstance(body.get("paths"), list) and len(paths) < 2:
            self.add("A random split has at least two paths.", ErrorCode.INVALID, (*path, "paths"))
        result = []
        for i, item in enumerate(paths):
            item = item if isinstance(item, Mapping) else {}
            here = (*path, "paths", str(i))
            weight = item.get("weight")
            if not isinstance(weight, int) or isinstance(weight, bool) \
                    or not 0 < weight <= MAX_WEIGHT:
                self.add(f"A weight is a whole number from 1 to {MAX_WEIGHT}.",
                         ErrorCode.INVALID, (*here, "weight"))
            result.append({"to": self.edge(item, "to", here, True), "weight": weight})
        return {"paths": result}

    def duration(self, data: Any, path: Path) -> dict:
        body = data if isinstance(data, Mapping) else {}
        given = {k for k, v in body.items() if v is not None}
        seconds = None
        if given not in _DURATION_KEYS:
            self.add("Give a duration as `iso` (e.g. P3D, PT12H) or as `amount` and `unit`.",
                     ErrorCode.REQUIRED if not given else ErrorCode.INVALID, path)
        elif "iso" in given:
            seconds = durations.parse_iso(body["iso"])
            if seconds is None:
                self.add(f"{body['iso']!r} is not an ISO 8601 duration in weeks, days, hours, "
                         "minutes or seconds (e.g. P3D, PT12H, P1DT6H).", ErrorCode.INVALID,
                         (*path, "iso"))
        elif "amount" in given:
            unit = self.enum(body["unit"], durations.DurationUnit, (*path, "unit"))
            amount = body["amount"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                self.add("An amount is a whole number.", ErrorCode.INVALID, (*path, "amount"))
            elif unit is not None:
                seconds = amount * durations.UNIT_SECONDS[durations.DurationUnit(unit)]
        else:
            seconds = body["seconds"] if isinstance(body["seconds"], int) else -1
        if seconds is not None and not 0 < seconds <= durations.MAX_SECONDS:
            self.add("A duration is more than zero and at most 365 days.", ErrorCode.INVALID, path)
        return {"seconds": seconds}

    def window(self, data: Any, path: Path) -> dict:
        body = data if isinstance(data, Mapping) else {}
        days = body.get("days")
        if not isinstance(days, list) or not days:
            self.add("Give at least one day of the week.", ErrorCode.REQUIRED, (*path, "days"))
            days = []
        names = [self.enum(d, Weekday, (*path, "days", str(i))) for i, d in enumerate(days)]
        if len(set(names)) != len(names):
            self.add("Each day once.", ErrorCode.DUPLICATE, (*path, "days"))
        start, end = body.get("fromHour"), body.get("toHour")
        if not _hour(start, 0, 23):
            self.add("fromHour is a whole hour from 0 to 23.", ErrorCode.INVALID,
                     (*path, "fromHour"))
        if not _hour(end, 1, 24):
            self.add("toHour is a whole hour from 1 to 24.", ErrorCode.INVALID, (*path, "toHour"))
        elif _hour(start, 0, 23) and start >= end:
            self.add("The window ends after it starts (fromHour < toHour).", ErrorCode.INVALID,
                     (*path, "toHour"))
        timezone = body.get("timezone") or RECIPIENT_TIMEZONE
        if timezone != RECIPIENT_TIMEZONE and not _is_timezone(timezone):
            self.add(f"{timezone!r} is not RECIPIENT or an IANA timezone (e.g. Europe/Berlin).",
                     ErrorCode.INVALID, (*path, "timezone"))
        return {"days": names, "fromHour": start, "toHour": end, "timezone": timezone}

    def goal(self, data: Any, path: Path) -> dict | None:
        keys = [k for k, v in data.items() if v is not None] if isinstance(data, Mapping) else []
        if keys == ["if"]:
            node = self.check_filter(self.problems, data["if"], *path, "if")
            if node is not None:
                self.filters.append((node, (*path, "if")))
            return {"if": data["if"]}
        if keys == ["event"]:
            event = self.enum(data["event"], WorkflowEvent, (*path, "event"))
            if event == WorkflowEvent.CALL_OUTCOME.value:
                self.add("A goal's event is not a call outcome.", ErrorCode.INVALID,
                         (*path, "event"))
            return {"event": event}
        self.add("A goal has exactly one of `if` (a segment filter) or `event`.",
                 ErrorCode.INVALID, path)
        return None

    def enum(self, value: Any, enum: type, path: Path) -> str | None:
        value = getattr(value, "value", value)
        if value not in {member.value for member in enum}:
            known = ", ".join(member.value for member in enum)
            self.add(f"{value!r} is not one of {known}.", ErrorCode.INVALID, path)
            return None
        return value

    def combination(self, transitions: list[dict], path: Path) -> None:
        """At most one transition taken at completion, not mixed with waiting ones; at most
        one delay; each event once."""
        instant = waiting = delays = 0
        events = set()
        for i, transition in enumerate(transitions):
            kind = TransitionKind(next(iter(transition)))
            here = (*path, str(i))
            if kind in INSTANT:
                instant += 1
                if instant > 1 or waiting:
                    self.add("A state moves on when its actions are done by at most one "
                             "onComplete, condition or randomSplit, and then waits for nothing "
                             "else.", ErrorCode.INVALID, here)
                continue
            waiting += 1
            if instant:
                self.add("A state that moves on when its actions are done cannot also wait "
                         "for a delay or an event.", ErrorCode.INVALID, here)
            if kind is TransitionKind.AFTER_DELAY:
                delays += 1
                if delays > 1:
                    self.add("A state has at most one afterDelay.", ErrorCode.INVALID, here)
            else:
                body = transition[kind.value]
                event = (body["event"], body.get("outcome"))
                if event in events:
                    self.add("Each event once per state.", ErrorCode.DUPLICATE,
                             (*here, kind.value, "event"))
                events.add(event)


def _hour(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_timezone(name: Any) -> bool:
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
