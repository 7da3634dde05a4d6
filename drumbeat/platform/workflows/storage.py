"""Where a workflow lives: one ``drumbeat_workflow_version`` row per version (the definition
as JSON) and, for the states and actions that run, ``drumbeat_workflow_state`` /
``drumbeat_workflow_action`` rows (the launch executes the start state's actions; the
deliveries of an action point at its row).

* A draft (campaign not launched) has version 1 only; editing it updates its rows in place,
  matched by state key and action position, so the ids of kept actions do not change.
* Each new version of a running campaign gets rows of its own; the older versions' rows stay
  (their deliveries and in-flight recipients keep them) but lose their start mark, so only
  the current version has a start state.
* Ad-hoc states (``campaignSendNow``) have no key and are not a start: never touched here.
* A quick campaign (created with one ``action``) has rows but no version row until its
  workflow is first set: it reads as version 1 with one state.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from drumbeat.platform.database import Database
from drumbeat.platform.tables import WorkflowAction, WorkflowState


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


async def version_rows(db: Database, campaign_ids: list[int]) -> dict[int, list[dict]]:
    """Each campaign's version rows, oldest first."""
    if not campaign_ids:
        return {}
    marks = ", ".join("{}" for _ in campaign_ids)
    rows = await db.fetch(
        "SELECT campaign, number, definition, created_by, created_at"
        f" FROM drumbeat_workflow_version WHERE campaign IN ({marks})"
        " ORDER BY campaign, number", *campaign_ids)
    result: dict[int, list[dict]] = {i: [] for i in campaign_ids}
    for row in rows:
        result[row["campaign"]].append({**row, "definition": _json(row["definition"])})
    return result


async def state_rows(campaign_id: int, version: int | None = None) -> list[dict]:
    """The workflow's state rows (of ``version``, or all), ad-hoc states left out, each with
    its non-ad-hoc actions, in order."""
    where = [WorkflowState.campaign == campaign_id]
    if version is not None:
        where.append(WorkflowState.version == version)
    states = [s for s in await WorkflowState.select().where(*where).order_by(
        WorkflowState.version).order_by(WorkflowState.position).order_by(WorkflowState.id)
        if s["state_key"] or s["is_start"]]
    if not states:
        return []
    actions = await WorkflowAction.select().where(
        WorkflowAction.state.is_in([s["id"] for s in states]),
        WorkflowAction.adhoc == False,  # noqa: E712
    ).order_by(WorkflowAction.position).order_by(WorkflowAction.id)
    by_state: dict[int, list[dict]] = {}
    for action in actions:
        by_state.setdefault(action["state"], []).append(
            {**action, "config": _json(action["config"])})
    return [{**s, "actions": by_state.get(s["id"], [])} for s in states]


def key_of(row: dict) -> str:
    """A state row's key; a quick campaign's state gets one from its name."""
    return row["state_key"] or re.sub(r"[^a-z0-9]+", "-", row["name"].lower()).strip("-") \
        or f"state-{row['id']}"


def definition_of_rows(rows: list[dict]) -> dict:
    """The definition of a quick campaign (no version row yet): its states, no transitions."""
    return {"states": [{"key": key_of(r), "name": r["name"], "start": bool(r["is_start"]),
                        "actions": [{"type": a["action_type"], "config": a["config"]}
                                    for a in r["actions"]],
                        "transitions": []} for r in rows],
            "goals": []}


async def save_version(db: Database, campaign_id: int, number: int, definition: dict,
                       member_id: int | None, stamp: datetime, replace: bool) -> None:
    """Insert version ``number`` (or, with ``replace``, overwrite it)."""
    text = json.dumps(definition, sort_keys=True)
    if replace and await db.fetchval(
            "SELECT count(*) FROM drumbeat_workflow_version WHERE campaign = {} AND number = {}",
            campaign_id, number):
        await db.execute(
            "UPDATE drumbeat_workflow_version SET definition = {}, created_by = {},"
            " created_at = {} WHERE campaign = {} AND number = {}",
            text, member_id, stamp, campaign_id, number)
        return
    await db.execute(
        "INSERT INTO drumbeat_workflow_version (campaign, number, definition, created_by,"
        " created_at) VALUES ({}, {}, {}, {}, {})",
        campaign_id, number, text, member_id, stamp)


async def write_draft(campaign_id: int, definition: dict) -> None:
    """Make the rows of version 1 match ``definition`` (kept rows updated in place)."""
    rows = await state_rows(campaign_id)
    by_key = {r["state_key"]: r for r in rows if r["state_key"]}
    legacy = [r for r in rows if not r["state_key"]]  # a quick campaign's start state
    for position, state in enumerate(definition["states"]):
        row = by_key.pop(state["key"], None)
        if row is None and state["start"] and legacy:
            row = legacy.pop(0)
        values = {WorkflowState.name: state["name"], WorkflowState.position: position,
                  WorkflowState.is_start: state["start"], WorkflowState.state_key: state["key"],
                  WorkflowState.version: 1}
        if row is None:
            state_id = await _insert_state(campaign_id, state, position, 1)
            existing: list[dict] = []
        else:
            await WorkflowState.update(values).where(WorkflowState.id == row["id"])
            state_id, existing = row["id"], row["actions"]
        await _write_actions(campaign_id, state_id, state["actions"], existing)
    gone = [r["id"] for r in (*by_key.values(), *legacy)]
    if gone:
        await WorkflowState.delete().where(WorkflowState.id.is_in(gone))


async def write_new_version(campaign_id: int, number: int, definition: dict) -> None:
    """Rows for version ``number``; the older versions' states stop being a start."""
    await WorkflowState.update({WorkflowState.is_start: False}).where(
        WorkflowState.campaign == campaign_id, WorkflowState.version < number)
    for position, state in enumerate(definition["states"]):
        state_id = await _insert_state(campaign_id, state, position, number)
        await _write_actions(campaign_id, state_id, state["actions"], [])


async def _insert_state(campaign_id: int, state: dict, position: int, version: int) -> int:
    row = (await WorkflowState.insert(WorkflowState(
        campaign=campaign_id, name=state["name"], position=position, is_start=state["start"],
        state_key=state["key"], version=version,
    )).returning(WorkflowState.id))[0]
    return row["id"]


async def _write_actions(campaign_id: int, state_id: int, actions: list[dict],
                         existing: list[dict]) -> None:
    for position, action in enumerate(actions):
        if position < len(existing):
            await WorkflowAction.update({
                WorkflowAction.action_type: action["type"],
                WorkflowAction.config: dict(action["config"]),
                WorkflowAction.position: position,
            }).where(WorkflowAction.id == existing[position]["id"])
        else:
            await WorkflowAction.insert(WorkflowAction(
                campaign=campaign_id, state=state_id, action_type=action["type"],
                config=dict(action["config"]), position=position))
    surplus = [a["id"] for a in existing[len(actions):]]
    if surplus:
        await WorkflowAction.delete().where(WorkflowAction.id.is_in(surplus))
