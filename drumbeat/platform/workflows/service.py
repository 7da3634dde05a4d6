"""Workflow services: read a campaign's workflow and set it (a draft replaced, or a new
version published), with permissions, validation and the audit log.

* Any signed-in member reads a workflow; only the campaign's owner or an admin sets it.
* PROPOSED / IN_PREPARATION / READY: the draft (version 1) is replaced.
* RUNNING / PAUSED: a new version (n + 1) is published; recipients already in flight stay
  on theirs (the engine follows the version number they entered with).
* COMPLETED / CANCELLED: refused (``INVALID_STATE``).
* Setting the same definition again changes nothing (no new version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from drumbeat.platform import audit
from drumbeat.platform.adhoc_send import STATE_NAME as ADHOC_STATE_NAME
from drumbeat.platform.campaigns import (
    ActionInput, check_action, check_action_references, require_campaign,
)
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor
from drumbeat.platform.runtime import Platform
from drumbeat.platform.segments.filter import parse_into
from drumbeat.platform.segments.nodes import product_ids
from drumbeat.platform.tables import CampaignState, Product
from drumbeat.platform.team import Member, now
from drumbeat.platform.workflows import storage
from drumbeat.platform.workflows.validate import Checked, check_definition

S = CampaignState
DRAFT_STATES = (S.PROPOSED, S.IN_PREPARATION, S.READY)
FINAL_STATES = (S.COMPLETED, S.CANCELLED)


@dataclass(frozen=True)
class VersionInfo:
    number: int
    created_at: datetime
    created_by: int | None


@dataclass(frozen=True)
class Workflow:
    campaign_id: int
    version: int
    definition: dict  # the current version's; each action with its ``stepId``
    versions: list[VersionInfo]
    published: bool  # recipients may be on it (the campaign was launched)
    stored: bool = True  # False: a quick campaign's, read from its rows (no version row)


def validate(platform: Platform, problems: Problems, data: Any, *path: str) -> Checked:
    """The normalised definition and its filters; every problem added to ``problems``
    (no database: the products that filters name are checked by :func:`set_workflow`)."""
    def action(problems: Problems, type_: str, config: Mapping, *field: str) -> None:
        check_action(platform, problems, ActionInput(type_, config), *field)

    checked = check_definition(problems, data, action, parse_into, *path)
    for i, state in enumerate(checked.definition["states"]):
        if state["name"] == ADHOC_STATE_NAME and not state["start"]:
            problems.add(f"{ADHOC_STATE_NAME!r} is reserved for ad-hoc sends.",
                         ErrorCode.INVALID, *path, "states", str(i), "name")
    return checked


async def _check_products(problems: Problems, filters) -> None:
    wanted = {i for node, _ in filters for i in product_ids(node)}
    if not wanted:
        return
    found = {r["id"] for r in await Product.select(Product.id).where(
        Product.id.is_in(sorted(wanted)))}
    for node, path in filters:
        missing = product_ids(node) - found
        if missing:
            problems.add(f"No such product: {', '.join(map(str, sorted(missing)))}.",
                         ErrorCode.NOT_FOUND, *path)


async def get_workflow(platform: Platform, member: Member | None, campaign_id: int,
                       field: str = "campaignId") -> Workflow:
    campaign = await require_campaign(member, campaign_id, field)
    return (await workflows_of(platform, [campaign]))[0]


async def workflows_of(platform: Platform, campaigns: list[dict]) -> list[Workflow]:
    """The workflows of ``campaigns`` (rows); one query for the versions of them all."""
    versions = await storage.version_rows(platform.db, [c["id"] for c in campaigns])
    return [await _workflow(c, versions[c["id"]]) for c in campaigns]


async def _workflow(campaign: dict, versions: list[dict]) -> Workflow:
    published = campaign["launched_at"] is not None
    if not versions:
        rows = await storage.state_rows(campaign["id"], 1)
        definition = _with_steps(storage.definition_of_rows(rows), rows)
        return Workflow(campaign["id"], 1, definition,
                        [VersionInfo(1, campaign["created_at"], campaign["created_by"])],
                        published, stored=False)
    current = versions[-1]
    rows = await storage.state_rows(campaign["id"], current["number"])
    return Workflow(campaign["id"], current["number"], _with_steps(current["definition"], rows),
                    [VersionInfo(v["number"], v["created_at"], v["created_by"])
                     for v in versions], published)


def _with_steps(definition: dict, rows: list[dict]) -> dict:
    """The definition with each state's actions as its rows have them (the rows are what
    runs, and a quick campaign's action may have been changed by ``campaignUpdate``)."""
    by_key = {storage.key_of(r): r for r in rows}
    states = []
    for state in definition["states"]:
        row = by_key.get(state["key"])
        actions = state["actions"] if row is None else [
            {"type": a["action_type"], "config": a["config"], "stepId": a["id"]}
            for a in row["actions"]]
        states.append({**state, "actions": actions})
    return {**definition, "states": states}


def _plain(definition: dict) -> dict:
    """A definition without step ids (to compare and store)."""
    return {**definition, "states": [
        {**s, "actions": [{"type": a["type"], "config": a["config"]} for a in s["actions"]]}
        for s in definition["states"]]}


async def set_workflow(platform: Platform, member: Member | None, campaign_id: int,
                       data: Any) -> Workflow:
    """Validate and store ``data`` as the campaign's workflow (see the module's rules)."""
    campaign = await require_campaign(member, campaign_id)
    require_campaign_editor(member, campaign)
    state = S(campaign["state"])
    if state in FINAL_STATES:
        raise DomainError.one(f"The workflow of a {state.value} campaign cannot change.",
                              ErrorCode.INVALID_STATE, ["campaignId"])
    problems = Problems()
    checked = validate(platform, problems, data, "input")
    problems.raise_if_any()
    await _check_products(problems, checked.filters)
    for i, defined in enumerate(checked.definition["states"]):
        for j, action in enumerate(defined["actions"]):
            await check_action_references(
                platform, problems, ActionInput(action["type"], action["config"]),
                "input", "states", str(i), "actions", str(j))
    problems.raise_if_any()
    definition = checked.definition
    old = await get_workflow(platform, member, campaign_id)
    if _plain(old.definition) == definition:
        return old
    draft = state in DRAFT_STATES
    stamp = now()
    async with platform.db.transaction():
        locked = await platform.db.fetchval(
            "UPDATE drumbeat_campaign SET updated_at = {} WHERE id = {} AND state = {}"
            " RETURNING id", stamp, campaign_id, state.value)
        if locked is None:  # its state changed meanwhile: the rules above may not hold
            raise DomainError.one("The campaign changed meanwhile; try again.",
                                  ErrorCode.INVALID_STATE, ["campaignId"])
        # Read again under the lock: a concurrent edit may have published a version.
        old = await get_workflow(platform, member, campaign_id)
        number = 1 if draft else old.version + 1
        if draft:
            await storage.write_draft(campaign_id, definition)
        else:
            if not old.stored:  # a quick campaign's first version, kept for its recipients
                await storage.save_version(platform.db, campaign_id, 1, _plain(old.definition),
                                           campaign["created_by"], campaign["created_at"], False)
            await storage.write_new_version(campaign_id, number, definition)
        await storage.save_version(platform.db, campaign_id, number, definition,
                                   member.id, stamp, draft)
        await audit.record(member, campaign_id, "workflow.set", [
            audit.Change("version", old.version, number),
            audit.Change("states", [s["key"] for s in old.definition["states"]],
                         [s["key"] for s in definition["states"]]),
        ])
    return await get_workflow(platform, member, campaign_id)
