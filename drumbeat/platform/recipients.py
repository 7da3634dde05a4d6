"""A campaign's recipients: contacts, companies and leads — added by id, by segment, by
distribution list or by filter; removed; counted. Recipients change only while the campaign
is in preparation; every change is audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from drumbeat.platform import audit, lists, segments
from drumbeat.platform.campaign_fields import PREPARING
from drumbeat.platform.campaigns import require_campaign
from drumbeat.platform.errors import DomainError, ErrorCode, Problems
from drumbeat.platform.permissions import require_campaign_editor
from drumbeat.platform.runtime import Platform
from drumbeat.platform.tables import Campaign, CampaignState
from drumbeat.platform.team import Member, now

MAX_IDS_PER_CALL = 10_000
KINDS = {"contact": "drumbeat_contact", "company": "drumbeat_company", "lead": "drumbeat_lead"}
ID_FIELDS = {"contact": "contactIds", "company": "companyIds", "lead": "leadIds"}


@dataclass(frozen=True)
class Selection:
    """Who to add: ids per kind, and contacts by segment, list or an ad-hoc filter."""

    ids: Mapping[str, Sequence[int]] = field(default_factory=dict)  # kind → ids
    segment_id: int | None = None
    list_id: int | None = None
    filter: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RecipientsChanged:
    changed: dict[str, int]  # kind → recipients added (or removed)
    unchanged: int  # already present (or, on removal, not present)

    @property
    def total(self) -> int:
        return sum(self.changed.values())


async def _editable(member: Member | None, campaign_id: int, problems: Problems) -> dict:
    campaign = await require_campaign(member, campaign_id)
    require_campaign_editor(member, campaign)
    if CampaignState(campaign["state"]) not in PREPARING:
        problems.add(f"The recipients of a {campaign['state']} campaign cannot change.",
                     ErrorCode.INVALID_STATE, "campaignId")
    return campaign


async def _check_ids(platform: Platform, problems: Problems, ids: Mapping[str, Sequence[int]]
                     ) -> dict[str, list[int]]:
    """Every id exists (each unknown one reported with its index); duplicates dropped."""
    result = {}
    for kind, values in ids.items():
        if len(values) > MAX_IDS_PER_CALL:
            problems.add(f"At most {MAX_IDS_PER_CALL} ids per call.", ErrorCode.TOO_LONG,
                         ID_FIELDS[kind])
            continue
        unique = list(dict.fromkeys(values))
        found = set()
        if unique:
            marks = ", ".join("{}" for _ in unique)
            found = {r["id"] for r in await platform.db.fetch(
                f"SELECT id FROM {KINDS[kind]} WHERE id IN ({marks})", *unique)}
        for index, value in enumerate(values):
            if value not in found:
                problems.add(f"No {kind} with id {value}.", ErrorCode.NOT_FOUND,
                             ID_FIELDS[kind], index)
        result[kind] = unique
    return result


async def _matching_contacts(platform: Platform, member: Member, problems: Problems,
                             selection: Selection) -> set[int]:
    """The contacts a segment, a list or a filter selects (evaluated now, in SQL)."""
    queries = []
    if selection.segment_id is not None:
        segment = await segments.get_segment(selection.segment_id)
        if segment is None:
            problems.add("No such segment.", ErrorCode.NOT_FOUND, "segmentId")
        else:
            queries.append(await segments.matching_contact_ids_sql(platform, segment["filter"]))
    if selection.list_id is not None:
        if await lists.get_list(selection.list_id) is None:
            problems.add("No such distribution list.", ErrorCode.NOT_FOUND, "listId")
        else:
            queries.append(await lists.list_contact_ids_sql(selection.list_id))
    if selection.filter is not None:
        try:
            queries.append(await segments.matching_contact_ids_sql(
                platform, selection.filter, field=("filter",)))
        except DomainError as exc:  # every problem of the filter, with its field path
            problems.items.extend(exc.problems)
    contact_ids: set[int] = set()
    for sql, params in queries:
        contact_ids.update(r["id"] for r in await platform.db.fetch(
            f"SELECT id FROM ({sql}) matched", *params))
    return contact_ids


async def add_recipients(platform: Platform, member: Member | None, campaign_id: int,
                         selection: Selection) -> RecipientsChanged:
    problems = Problems()
    await _editable(member, campaign_id, problems)
    if not any(selection.ids.values()) and selection.segment_id is None \
            and selection.list_id is None and selection.filter is None:
        problems.add("Give contacts, companies or leads, a segment, a list or a filter.",
                     ErrorCode.REQUIRED, "campaignId")
    ids = await _check_ids(platform, problems, selection.ids)
    matched = await _matching_contacts(platform, member, problems, selection)
    problems.raise_if_any()
    wanted = {kind: set(values) for kind, values in ids.items()}
    wanted.setdefault("contact", set()).update(matched)
    stamp = now()
    async with platform.db.transaction():
        existing = await _present(platform, campaign_id)
        new = {kind: sorted(values - existing.get(kind, set())) for kind, values in wanted.items()}
        for kind, values in new.items():
            await platform.db.executemany(
                f"INSERT INTO drumbeat_campaign_recipient (campaign, kind, {kind}, added_at)"
                " VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING",
                [(campaign_id, kind, value, stamp) for value in values])
        result = RecipientsChanged({k: len(v) for k, v in new.items() if v},
                                   sum(len(v) for v in wanted.values()) - sum(map(len, new.values())))
        if result.total:
            await _touch(campaign_id, stamp)
            await audit.record(member, campaign_id, "recipients.add",
                               [audit.Change(f"{kind}s", None, n) for kind, n in result.changed.items()])
    return result


async def remove_recipients(platform: Platform, member: Member | None, campaign_id: int,
                            ids: Mapping[str, Sequence[int]]) -> RecipientsChanged:
    problems = Problems()
    await _editable(member, campaign_id, problems)
    if not any(ids.values()):
        problems.add("Give contacts, companies or leads to remove.", ErrorCode.REQUIRED,
                     "campaignId")
    for kind, values in ids.items():
        if len(values) > MAX_IDS_PER_CALL:
            problems.add(f"At most {MAX_IDS_PER_CALL} ids per call.", ErrorCode.TOO_LONG,
                         ID_FIELDS[kind])
    problems.raise_if_any()
    changed: dict[str, int] = {}
    asked = 0
    async with platform.db.transaction():
        for kind, values in ids.items():
            unique = list(dict.fromkeys(values))
            asked += len(unique)
            if not unique:
                continue
            marks = ", ".join("{}" for _ in unique)
            rows = await platform.db.fetch(
                f"DELETE FROM drumbeat_campaign_recipient WHERE campaign = {{}} AND kind = {{}}"
                f" AND {kind} IN ({marks}) RETURNING id", campaign_id, kind, *unique)
            if rows:
                changed[kind] = len(rows)
        result = RecipientsChanged(changed, asked - sum(changed.values()))
        if result.total:
            await _touch(campaign_id, now())
            await audit.record(member, campaign_id, "recipients.remove",
                               [audit.Change(f"{kind}s", n, None) for kind, n in changed.items()])
    return result


async def _present(platform: Platform, campaign_id: int) -> dict[str, set[int]]:
    present: dict[str, set[int]] = {}
    for row in await platform.db.fetch(
            "SELECT kind, COALESCE(contact, company, lead) AS party"
            " FROM drumbeat_campaign_recipient WHERE campaign = {}", campaign_id):
        present.setdefault(row["kind"], set()).add(row["party"])
    return present


async def _touch(campaign_id: int, stamp) -> None:
    await Campaign.update({Campaign.updated_at: stamp}).where(Campaign.id == campaign_id)


async def counts_many(platform: Platform, campaign_ids: Sequence[int]) -> list[dict[str, int]]:
    """Recipients per kind of each campaign, in one query (aligned with ``campaign_ids``)."""
    marks = ", ".join("{}" for _ in campaign_ids) or "NULL"
    result = {cid: {kind: 0 for kind in KINDS} for cid in campaign_ids}
    for row in await platform.db.fetch(
            f"SELECT campaign, kind, count(*) AS n FROM drumbeat_campaign_recipient"
            f" WHERE campaign IN ({marks}) GROUP BY campaign, kind", *campaign_ids):
        result[row["campaign"]][row["kind"]] = int(row["n"])
    return [result[cid] for cid in campaign_ids]
