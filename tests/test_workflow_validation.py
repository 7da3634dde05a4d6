"""Workflow definitions without a database: every problem with its field path and code, and
the normalised form that is stored (many small cases)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from drumbeat.platform.errors import ErrorCode, Problems
from drumbeat.platform.plugins import build_plugins
from drumbeat.platform.templating import TemplateRenderer
from drumbeat.platform.workflows.durations import format_iso, parse_iso
from drumbeat.platform.workflows.service import validate

E = ErrorCode
EMAIL = {"type": "email", "config": {"subject": "Hi {{ contact.first_name }}", "text": "Hello"}}
CALL = {"type": "phone_call", "config": {"script": "Ask how it went."}}


@pytest.fixture(scope="module")
def platform():
    plugins = build_plugins(("email", "tasks"))
    return SimpleNamespace(plugins=plugins,
                           templates=TemplateRenderer(filters=plugins.template_filters))


def check(platform, data):
    problems = Problems()
    definition = validate(platform, problems, data, "input").definition
    return definition, [(p.field, p.code) for p in problems.items], problems.items


def errors(platform, data):
    return check(platform, data)[1]


def state(key, start=False, actions=(), *transitions, name=None):
    return {"key": key, "name": name or key.title(), "start": start, "actions": list(actions),
            "transitions": list(transitions)}


def done(to):
    return {"onComplete": {"to": to}}


def wait(to, delay=None, window=None):
    body = {"to": to, "delay": {"iso": "P1D"} if delay is None else delay}
    if window is not None:
        body["window"] = window
    return {"afterDelay": body}


def flow(*states, goals=None):
    return {"states": list(states), **({"goals": goals} if goals is not None else {})}


def at(*path):
    return ("input", "states", *map(str, path))


SEED = flow(
    state("preparation", True, (), done("send-email"), name="Preparation"),
    state("send-email", False, [EMAIL], done("follow-up"), name="Send email"),
    state("follow-up", False, (), {"onEvent": {
        "to": "call", "event": "REPLIED",
        "timeout": {"after": {"iso": "P3D"}, "to": "reminder"}}}, name="Follow-up"),
    state("call", False, [CALL], done("results"), name="Call"),
    state("reminder", False, [EMAIL], done("results"), name="Reminder"),
    state("results", False, (), name="Results analysis"),
    goals=[{"event": "CONVERTED"}],
)


def test_the_seed_workflow_is_valid_and_normalised(platform):
    definition, found, _ = check(platform, SEED)
    assert found == []
    follow = definition["states"][2]["transitions"][0]["onEvent"]
    assert follow == {"to": "call", "event": "REPLIED",
                      "timeout": {"after": {"seconds": 3 * 86400}, "to": "reminder"}}
    assert [s["key"] for s in definition["states"]] == [
        "preparation", "send-email", "follow-up", "call", "reminder", "results"]
    assert definition["goals"] == [{"event": "CONVERTED"}]


@pytest.mark.parametrize("data, expected", [
    (flow(state("a"), state("b")), [(("input", "states"), E.NO_START)]),
    (flow(), [(("input", "states"), E.NO_START)]),
    (flow(state("a", True, (), done("b")), state("b", True)),
     [(at(1, "start"), E.MULTIPLE_STARTS)]),
    (flow(state("a", True), state("b")), [(at(1), E.UNREACHABLE_STATE)]),
    (flow(state("a", True, (), done("nowhere"))),
     [(at(0, "transitions", 0, "onComplete", "to"), E.DANGLING_TRANSITION)]),
    (flow(state("a", True, (), done("b")), state("b", False, (), done("a"))),
     [(at(1, "transitions", 0, "onComplete", "to"), E.INSTANT_CYCLE)]),
    (flow(state("a", True, (), done("a"))),
     [(at(0, "transitions", 0, "onComplete", "to"), E.INSTANT_CYCLE)]),
    (flow(state("a", True, (), done("b")), state("b"), state("b")),
     [(at(2, "key"), E.DUPLICATE), (at(2), E.UNREACHABLE_STATE)]),
    (flow(state("bad key!", True)), [(at(0, "key"), E.INVALID)]),
    (flow({"key": "a", "name": " ", "start": True}), [(at(0, "name"), E.REQUIRED)]),
    (flow(state("a", True, (), {"onComplete": {"to": "b"}, "afterDelay": {"to": "b"}}),
          state("b")),
     [(at(0, "transitions", 0), E.INVALID), (at(1), E.UNREACHABLE_STATE)]),
])
def test_graph_and_structure_problems(platform, data, expected):
    assert errors(platform, data) == expected


def test_a_cycle_with_a_delay_or_an_event_is_fine(platform):
    assert errors(platform, flow(state("a", True, (), done("b")),
                                 state("b", False, (), wait("a")))) == []
    assert errors(platform, flow(
        state("a", True, (), done("b")),
        state("b", False, (), {"onEvent": {"to": "a", "event": "CLICKED"}}))) == []


def test_a_condition_and_a_split_loop_back_instantly(platform):
    found = errors(platform, flow(
        state("a", True, (), done("b")),
        state("b", False, (), {"condition": {
            "if": {"unsubscribed": True}, "then": "c", "else": "d"}}),
        state("c", False, (), {"randomSplit": {"paths": [{"to": "a", "weight": 1},
                                                          {"to": "d", "weight": 1}]}}),
        state("d")))
    assert found == [(at(2, "transitions", 0, "randomSplit", "paths", 0, "to"),
                      E.INSTANT_CYCLE)]


def test_the_cycle_message_names_its_states(platform):
    _, _, items = check(platform, flow(state("a", True, (), done("b")),
                                       state("b", False, (), done("a"))))
    assert "a → b → a" in items[0].message
    _, _, items = check(platform, flow(state("start", True), state("lost")))
    assert "'lost'" in items[0].message


@pytest.mark.parametrize("weight", [0, -3, 1_000_001, "2", 1.5, None])
def test_weights_are_positive_whole_numbers(platform, weight):
    found = errors(platform, flow(
        state("a", True, (), {"randomSplit": {"paths": [{"to": "b", "weight": weight},
                                                        {"to": "c", "weight": 1}]}}),
        state("b"), state("c")))
    assert found == [(at(0, "transitions", 0, "randomSplit", "paths", 0, "weight"), E.INVALID)]


def test_a_split_has_two_paths_at_least(platform):
    found = errors(platform, flow(
        state("a", True, (), {"randomSplit": {"paths": [{"to": "b", "weight": 1}]}}),
        state("b")))
    assert found == [(at(0, "transitions", 0, "randomSplit", "paths"), E.INVALID)]


@pytest.mark.parametrize("delay, field", [
    ({"iso": "PT0S"}, ()), ({"iso": "P366D"}, ()), ({"iso": "P1M"}, ("iso",)),
    ({"iso": "P1Y"}, ("iso",)), ({"iso": "3 days"}, ("iso",)), ({"iso": "PT"}, ("iso",)),
    ({"amount": 0, "unit": "DAYS"}, ()), ({"amount": 53, "unit": "WEEKS"}, ()),
    ({"amount": 3, "unit": "FORTNIGHTS"}, ("unit",)), ({"amount": 3}, ()),
    ({"iso": "P1D", "amount": 1, "unit": "DAYS"}, ()), ({}, ()),
])
def test_bad_delays(platform, delay, field):
    found = errors(platform, flow(state("a", True, (), wait("b", delay)), state("b")))
    assert found == [(at(0, "transitions", 0, "afterDelay", "delay", *field),
                      E.REQUIRED if delay == {} else E.INVALID)]


@pytest.mark.parametrize("delay, seconds", [
    ({"iso": "P3D"}, 259200), ({"iso": "pt36h"}, 129600), ({"iso": "P1W"}, 604800),
    ({"iso": "P1DT2H30M"}, 95400), ({"amount": 90, "unit": "MINUTES"}, 5400),
    ({"amount": 365, "unit": "DAYS"}, 365 * 86400), ({"iso": "PT1S"}, 1),
])
def test_good_delays_are_stored_in_seconds(platform, delay, seconds):
    definition, found, _ = check(platform, flow(state("a", True, (), wait("b", delay)),
                                                state("b")))
    assert found == []
    assert definition["states"][0]["transitions"][0]["afterDelay"]["delay"] == {
        "seconds": seconds}


@pytest.mark.parametrize("text, seconds, canonical", [
    ("P3D", 259200, "P3D"), ("PT36H", 129600, "P1DT12H"), ("P1W", 604800, "P7D"),
    ("PT90M", 5400, "PT1H30M"), ("P1DT1S", 86401, "P1DT1S"),
])
def test_iso_durations_round_trip(text, seconds, canonical):
    assert parse_iso(text) == seconds
    assert format_iso(seconds) == canonical
    assert parse_iso(format_iso(seconds)) == seconds


WINDOW = {"days": ["MON", "TUE"], "fromHour": 9, "toHour": 17, "timezone": "Europe/Berlin"}


@pytest.mark.parametrize("change, field", [
    ({"timezone": "Mars/Olympus"}, "timezone"), ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"fromHour": 17, "toHour": 9}, "toHour"), ({"fromHour": 9, "toHour": 9}, "toHour"),
    ({"fromHour": 24}, "fromHour"), ({"toHour": 25}, "toHour"), ({"days": []}, "days"),
    ({"days": ["MON", "MON"]}, "days"), ({"days": ["MONDAY"]}, ("days", "0")),
])
def test_bad_windows(platform, change, field):
    window = {**WINDOW, **change}
    found = errors(platform, flow(state("a", True, (), wait("b", window=window)), state("b")))
    field = field if isinstance(field, tuple) else (field,)
    assert [f for f, _ in found] == [at(0, "transitions", 0, "afterDelay", "window", *field)]


def test_good_windows(platform):
    for timezone in ("RECIPIENT", "America/New_York", "UTC"):
        assert errors(platform, flow(state("a", True, (), wait(
            "b", window={**WINDOW, "timezone": timezone})), state("b"))) == []
    definition, _, _ = check(platform, flow(state("a", True, (), wait(
        "b", window={"days": ["SAT"], "fromHour": 0, "toHour": 24})), state("b")))
    assert definition["states"][0]["transitions"][0]["afterDelay"]["window"]["timezone"] \
        == "RECIPIENT"


def test_bad_action_config_is_reported_inside_the_action(platform):
    found = errors(platform, flow(
        state("a", True, [EMAIL, {"type": "email", "config": {"subject": "x", "bogus": 1}},
                          {"type": "fax", "config": {}},
                          {"type": "email", "config": {"subject": "{{ oops", "text": "t"}}])))
    assert (at(0, "actions", 1, "config", "bogus"), E.INVALID_CONFIG) in found
    assert (at(0, "actions", 2, "type"), E.UNKNOWN_ACTION_TYPE) in found
    assert (at(0, "actions", 3, "config", "subject"), E.TEMPLATE_ERROR) in found
    assert all(f[:4] == at(0, "actions") for f, _ in found)


def test_bad_condition_filter_is_reported_inside_the_condition(platform):
    found = errors(platform, flow(
        state("a", True, (), {"condition": {
            "if": {"field": {"field": "SALARY", "op": "EQ", "value": 1}},
            "then": "b", "else": "b"}}), state("b")))
    assert found == [(at(0, "transitions", 0, "condition", "if", "field", "field"),
                      E.UNKNOWN_FIELD)]
    assert errors(platform, flow(state("a", True), goals=[{"if": {"nothing": 1}}])) == [
        (("input", "goals", "0", "if", "nothing"), E.UNKNOWN_FIELD)]


@pytest.mark.parametrize("body, field, code", [
    ({"to": "b", "event": "CALL_OUTCOME"}, "outcome", E.REQUIRED),
    ({"to": "b", "event": "CALL_OUTCOME", "outcome": "not valid!"}, "outcome", E.INVALID),
    ({"to": "b", "event": "REPLIED", "outcome": "REACHED"}, "outcome", E.INVALID),
    ({"to": "b", "event": "LIKED"}, "event", E.INVALID),
    ({"to": "b", "event": "OPENED", "timeout": {"after": {"iso": "P3D"}, "to": "zz"}},
     ("timeout", "to"), E.DANGLING_TRANSITION),
    ({"to": "b", "event": "OPENED", "timeout": {"after": {"iso": "P2Y"}, "to": "b"}},
     ("timeout", "after", "iso"), E.INVALID),
])
def test_bad_events(platform, body, field, code):
    found = errors(platform, flow(state("a", True, (), {"onEvent": body}), state("b")))
    field = field if isinstance(field, tuple) else (field,)
    assert found == [(at(0, "transitions", 0, "onEvent", *field), code)]


def test_a_call_outcome_and_each_event_once(platform):
    ok = flow(state("a", True, (), {"onEvent": {"to": "b", "event": "CALL_OUTCOME",
                                                "outcome": "REACHED"}},
                    {"onEvent": {"to": "c", "event": "CALL_OUTCOME", "outcome": "NO_ANSWER"}},
                    wait("c")),
              state("b"), state("c"))
    assert errors(platform, ok) == []
    twice = flow(state("a", True, (), {"onEvent": {"to": "b", "event": "OPENED"}},
                       {"onEvent": {"to": "b", "event": "OPENED"}}), state("b"))
    assert errors(platform, twice) == [(at(0, "transitions", 1, "onEvent", "event"),
                                        E.DUPLICATE)]


def test_one_instant_transition_and_not_mixed_with_waiting(platform):
    found = errors(platform, flow(state("a", True, (), done("b"), done("c"), wait("b")),
                                  state("b"), state("c")))
    assert found == [(at(0, "transitions", 1), E.INVALID), (at(0, "transitions", 2), E.INVALID)]
    assert errors(platform, flow(state("a", True, (), wait("b"), wait("b")), state("b"))) == [
        (at(0, "transitions", 1), E.INVALID)]


def test_goals(platform):
    definition, found, _ = check(platform, flow(state("a", True), goals=[
        {"event": "CONVERTED"}, {"if": {"tags": {"match": "ANY", "tags": ["customer"]}}}]))
    assert found == []
    assert definition["goals"][1] == {"if": {"tags": {"match": "ANY", "tags": ["customer"]}}}
    assert errors(platform, flow(state("a", True), goals=[{"event": "CALL_OUTCOME"}])) == [
        (("input", "goals", "0", "event"), E.INVALID)]
    assert errors(platform, flow(state("a", True), goals=[{}])) == [
        (("input", "goals", "0"), E.INVALID)]


def test_the_ad_hoc_state_name_is_reserved(platform):
    assert errors(platform, flow(state("a", True, (), done("b")),
                                 state("b", name="Ad-hoc"))) == [(at(1, "name"), E.INVALID)]


def test_every_problem_at_once(platform):
    found = errors(platform, flow(
        state("a", True, (), done("ghost")), state("b", True), state("c")))
    codes = {code for _, code in found}
    assert {E.DANGLING_TRANSITION, E.MULTIPLE_STARTS} <= codes
