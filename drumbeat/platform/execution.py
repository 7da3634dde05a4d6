"""Executing one chunk: claim → the action type's ``execute`` → record outcomes.

Called by the worker's generic actor; safe to call twice for the same chunk (a second
call finds nothing left to claim) and after a crash (expired leases are re-claimed).
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from drumbeat.platform import ledger
from drumbeat.platform.actions import ActionContext, CampaignInfo, Outcome, Sender, Target
from drumbeat.platform.campaigns import complete_finished
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import CampaignState

log = logging.getLogger(__name__)


async def run_chunk(platform: Platform, chunk: ledger.Chunk) -> int:
    """Execute what is still claimable in ``chunk``; returns how many rows it handled."""
    db = platform.db
    step = await db.fetchrow(
        """
        SELECT a.action_type, a.config, c.id AS campaign_id, c.name AS campaign_name,
               c.state AS campaign_state, m.name AS owner_name, m.email AS owner_email
        FROM drumbeat_workflow_action a
        JOIN drumbeat_campaign c ON c.id = a.campaign
        JOIN drumbeat_team_member m ON m.id = c.owner
        WHERE a.id = {}
        """,
        chunk.step_id,
    )
    if step is None or step["campaign_state"] != CampaignState.RUNNING.value:
        return 0  # deleted, or not running (the reconciler resumes it when it runs again)
    settings = platform.settings
    exhausted = await ledger.fail_exhausted(db, chunk, settings.max_attempts)
    claim = await ledger.claim(db, chunk, settings.lease_seconds)
    if claim.rows:
        action_type = platform.plugins.action_type(step["action_type"])
        owner = Sender(name=step["owner_name"], email=step["owner_email"])
        ctx = ActionContext(
            campaign=CampaignInfo(id=step["campaign_id"], name=step["campaign_name"], owner=owner),
            step_id=chunk.step_id,
            config=action_type.parse_config(_json(step["config"])),
            sender=owner,
            settings=settings,
            templates=platform.templates,
        )
        targets = await _targets(platform, chunk, claim.rows)
        try:
            outcomes = list(await action_type.execute(ctx, targets))
        except Exception as exc:  # the whole batch failed: retry it later
            log.exception("action %s failed for chunk %s", step["action_type"], chunk)
            outcomes = [Outcome.retry(t, f"{type(exc).__name__}: {exc}") for t in targets]
        await ledger.record(db, claim, _complete(targets, outcomes))
    handled = exhausted + len(claim.rows)
    if handled:
        await platform.publish(chunk.campaign_id, {"type": "progress", "step": chunk.step_id})
        await complete_finished(platform, chunk.campaign_id)
    return handled


def _complete(targets: Sequence[Target], outcomes: list[Outcome]) -> list[Outcome]:
    """Every target gets an outcome; one the action forgot is retried."""
    seen = {o.delivery_id for o in outcomes}
    return outcomes + [
        Outcome.retry(t, "the action returned no outcome") for t in targets
        if t.delivery_id not in seen
    ]


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or {})


async def _targets(platform: Platform, chunk: ledger.Chunk, rows: list[dict]) -> list[Target]:
    """Build the batch: each claimed row with its contact's (and company's) data."""
    contact_ids = [r["target_id"] for r in rows if r["target_kind"] == "contact"]
    placeholders = ", ".join("{}" for _ in contact_ids) or "NULL"
    contacts = {
        r["id"]: r for r in await platform.db.fetch(
            f"""
            SELECT c.id, c.first_name, c.last_name, c.email,
                   co.name AS company_name, co.email AS company_email
            FROM drumbeat_contact c LEFT JOIN drumbeat_company co ON co.id = c.company
            WHERE c.id IN ({placeholders})
            """,
            *contact_ids,
        )
    }
    targets = []
    for row in rows:
        contact = contacts.get(row["target_id"], {})
        data = {
            "contact": {
                "id": row["target_id"],
                "first_name": contact.get("first_name") or "",
                "last_name": contact.get("last_name") or "",
                "email": contact.get("email") or "",
            },
            "company": {
                "name": contact.get("company_name") or "",
                "email": contact.get("company_email") or "",
            },
        }
        targets.append(Target(
            delivery_id=row["id"],
            key=f"c{chunk.campaign_id}.s{chunk.step_id}.{row['target_kind']}{row['target_id']}",
            kind=row["target_kind"],
            id=row["target_id"],
            address=row["address"],
            attempt=row["attempts"],
            data=data,
        ))
    return targets
