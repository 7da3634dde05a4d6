"""The vocabulary of a workflow definition and the JSON form it is stored in.

A definition is JSON with the shape of the GraphQL input ``WorkflowInput``::

    {"states": [{"key": "send-email", "name": "Send email", "start": true,
                 "actions": [{"type": "email", "config": {...}}],
                 "transitions": [{"onComplete": {"to": "follow-up"}}]}, ...],
     "goals": [{"event": "CONVERTED"}, {"if": <segment filter>}]}

Each transition has exactly one key:

* ``onComplete: {to}`` — the state's actions are done → ``to``;
* ``afterDelay: {to, delay, window?}`` — ``delay`` after entering the state, then the next
  moment inside ``window`` (days of the week, ``fromHour``–``toHour``, in the recipient's
  timezone or a named IANA one);
* ``onEvent: {to, event, outcome?, timeout?: {after, to}}`` — on the event (a call outcome
  names its ``outcome``); ``timeout`` is the branch taken when it does not happen in time;
* ``condition: {if, then, else}`` — a segment filter over the recipient's contact;
* ``randomSplit: {paths: [{to, weight}]}`` — a weighted random path (A/B tests of paths).

A state moves on either as soon as its actions are done (one ``onComplete``, ``condition``
or ``randomSplit``) or waits (``afterDelay`` and/or ``onEvent``s); a state without
transitions ends the workflow. ``goals`` are workflow-wide exit criteria: a recipient who
meets any of them leaves the workflow, from whatever state it is in.

Durations are given as ``{"iso": "P3D"}`` or ``{"amount": 3, "unit": "DAYS"}`` and stored as
``{"seconds": 259200}``.
"""

from __future__ import annotations

from enum import Enum


class TransitionKind(str, Enum):
    ON_COMPLETE = "onComplete"
    AFTER_DELAY = "afterDelay"
    ON_EVENT = "onEvent"
    CONDITION = "condition"
    RANDOM_SPLIT = "randomSplit"


#: Transitions taken as soon as the state's actions are done (at most one per state).
INSTANT = (TransitionKind.ON_COMPLETE, TransitionKind.CONDITION, TransitionKind.RANDOM_SPLIT)


class WorkflowEvent(str, Enum):
    OPENED = "OPENED"
    CLICKED = "CLICKED"
    REPLIED = "REPLIED"
    CONVERTED = "CONVERTED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    BOUNCED = "BOUNCED"
    CALL_OUTCOME = "CALL_OUTCOME"


class Weekday(str, Enum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


#: ``window.timezone`` value meaning "each recipient's own timezone".
RECIPIENT_TIMEZONE = "RECIPIENT"

MAX_STATES = 100
MAX_ACTIONS = 20
MAX_TRANSITIONS = 20
MAX_PATHS = 20
MAX_GOALS = 20
MAX_NAME = 200
MAX_WEIGHT = 1_000_000
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
OUTCOME_PATTERN = r"^[A-Za-z0-9_]{1,50}$"
