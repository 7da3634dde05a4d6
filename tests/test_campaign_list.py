"""The ``campaigns`` query: filters, orderings and keyset cursors, against a Python oracle.

Campaigns are created through the API, then their dates, states, owners and tags are set
with SQL so that orderings have ties and unscheduled campaigns. Every result is compared
with the same filter and ordering computed in Python over the rows read from the database.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from strawberry import relay

from tests.conftest import member_token, unique
from tests.support.queries import create_campaign, db_id

CAMPAIGNS = """
query($filter: CampaignFilter, $order: CampaignOrder, $first: Int, $after: String,
      $last: Int, $before: String) {
  campaigns(filter: $filter, orderBy: $order, first: $first, after: $after, last: $last,
            before: $before) {
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

WORDS = ["alpha", "Bravo", "charlie", "Delta", "echo", "Foxtrot", "golf", "Hotel", "india",
         "Juliet", "kilo", "Lima", "mike", "November", "oscar", "Papa", "quebec", "Romeo",
         "sierra", "Tango", "uniform", "Victor", "whiskey", "Xray", "yankee"]
BASE = datetime(2031, 3, 1, 9, 30, tzinfo=timezone.utc)
PLUS_TWO = timezone(timedelta(hours=2))
STATES = ["PROPOSED", "IN_PREPARATION", "READY", "COMPLETED", "PAUSED"]  # no RUNNING:
# the reconciler would complete a running campaign without deliveries (and touch updated_at)
COLUMNS = {"NAME": "name", "CREATED_AT": "created_at", "UPDATED_AT": "updated_at",
           "SCHEDULED_START": "scheduled_start"}


async def _seed(server, api, marker: str, other_owner: int) -> list[int]:
    """25 campaigns tagged ``marker``, with tied dates, some unscheduled, several owners and
    states, and a few extra tags and goal/description texts."""
    ids = [db_id(await create_campaign(api, f"{marker} {word}")) for word in WORDS]

    async def update():
        db = server.platform.db
        for i, campaign_id in enumerate(ids):
            scheduled = None if i % 4 == 0 else (BASE + timedelta(days=i % 5)).astimezone(PLUS_TWO)
            await db.execute(
                "UPDATE drumbeat_campaign SET created_at = {}, updated_at = {}, "
                "scheduled_start = {}, state = {}, goal = {}, description = {} WHERE id = {}",
                BASE - timedelta(days=i % 7, microseconds=250 if i % 7 == 3 else 0),
                BASE + timedelta(hours=(i * 5) % 11, seconds=0.5 if i % 2 else 0),
                scheduled, STATES[i % len(STATES)],
                f"Goal {marker}-G{i % 3}" if i % 2 else "", f"About {marker}-D{i % 4}", campaign_id)
            if i % 3 == 0:
                await db.execute("UPDATE drumbeat_campaign SET owner = {} WHERE id = {}",
                                 other_owner, campaign_id)
            tags = [marker] + ([f"Promo-{marker}"] if i % 5 in (1, 2) else [])
            for tag in tags:
                await db.execute(
                    "INSERT INTO drumbeat_campaign_tag (campaign, tag) VALUES ({}, {})",
                    campaign_id, tag)

    await server.call(update())
    return ids


async def _all_rows(server) -> list[dict]:
    async def read():
        db = server.platform.db
        rows = await db.fetch("SELECT * FROM drumbeat_campaign")
        tags = await db.fetch("SELECT campaign, tag FROM drumbeat_campaign_tag")
        for row in rows:
            row["tags"] = {t["tag"].lower() for t in tags if t["campaign"] == row["id"]}
        return rows
    return await server.call(read())


def _matches(row: dict, f: dict) -> bool:
    """The oracle of ``CampaignFilter``."""
    checks = [
        not f.get("states") or row["state"] in f["states"],
        "ownerId" not in f or row["owner"] == db_id(f["ownerId"]),
        "tag" not in f or f["tag"].lower() in row["tags"],
        "text" not in f or any(f["text"].lower() in row[c].lower()
                               for c in ("name", "goal", "description")),
    ]
    for key, column, lower in (("createdAfter", "created_at", True),
                               ("createdBefore", "created_at", False),
                               ("scheduledAfter", "scheduled_start", True),
                               ("scheduledBefore", "scheduled_start", False)):
        if key in f:
            value, bound = row[column], datetime.fromisoformat(f[key])
            checks.append(value is not None and (value >= bound if lower else value < bound))
    return all(checks)


def _sorted(rows: list[dict], field: str = "CREATED_AT", direction: str = "DESC") -> list[int]:
    """The oracle of ``CampaignOrder``: ties by id, unscheduled (NULL) last either way."""
    descending = direction == "DESC"
    column = COLUMNS[field]

    def key(row):
        return row[column].lower() if field == "NAME" else row[column]

    rows = sorted(rows, key=lambda r: r["id"], reverse=descending)
    present = sorted((r for r in rows if key(r) is not None), key=key, reverse=descending)
    return [r["id"] for r in present] + [r["id"] for r in rows if key(r) is None]


async def _page(api, variables: dict) -> dict:
    return (await api.data(CAMPAIGNS, variables))["campaigns"]


async def _forward(api, variables: dict, size: int) -> tuple[list[int], list[str]]:
    """Every id and cursor, page by page with first/after."""
    ids, cursors, after = [], [], None
    for _ in range(100):
        page = await _page(api, {**variables, "first": size, "after": after})
        assert len(page["edges"]) <= size
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        ids += [db_id(e["node"]["id"]) for e in page["edges"]]
        cursors += [e["cursor"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids, cursors
        assert len(page["edges"]) == size
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


async def _backward(api, variables: dict, size: int) -> list[int]:
    """Every id, from the end, page by page with last/before."""
    ids, before = [], None
    for _ in range(100):
        page = await _page(api, {**variables, "last": size, "before": before})
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        ids = [db_id(e["node"]["id"]) for e in page["edges"]] + ids
        if not page["pageInfo"]["hasPreviousPage"]:
            return ids
        assert len(page["edges"]) == size
        before = page["pageInfo"]["startCursor"]
    raise AssertionError("paging did not end")


@pytest.fixture
async def seeded(server, admin_api):
    marker = unique("list")
    other_owner, _ = await member_token(server, "MARKETER")
    ids = await _seed(server, admin_api, marker, other_owner)
    return marker, other_owner, ids


@pytest.mark.parametrize("field", list(COLUMNS))
async def test_each_ordering_pages_forward_and_backward_like_the_oracle(server, admin_api,
                                                                        seeded, field):
    marker, _, ids = seeded
    mine = [r for r in await _all_rows(server) if r["id"] in ids]
    if field == "SCHEDULED_START":
        assert sum(r["scheduled_start"] is None for r in mine) == 7
    for direction in ("ASC", "DESC"):
        variables = {"filter": {"tag": marker}, "order": {"field": field, "direction": direction}}
        expected = _sorted(mine, field, direction)
        forward, cursors = await _forward(admin_api, variables, 4)
        assert forward == expected, (field, direction)
        assert await _backward(admin_api, variables, 4) == expected, (field, direction)
        # A window between two cursors, read from either end.
        window = {**variables, "after": cursors[3], "before": cursors[11]}
        assert [db_id(e["node"]["id"]) for e in (await _page(admin_api, {**window, "first": 50}))
                ["edges"]] == expected[4:11]
        assert [db_id(e["node"]["id"]) for e in (await _page(admin_api, {**window, "last": 3}))
                ["edges"]] == expected[8:11]


async def test_the_default_order_is_newest_first(server, admin_api, seeded):
    marker, _, ids = seeded
    mine = [r for r in await _all_rows(server) if r["id"] in ids]
    expected = _sorted(mine, "CREATED_AT", "DESC")
    assert (await _forward(admin_api, {"filter": {"tag": marker}}, 10))[0] == expected
    names = [e["node"]["name"] for e in (await _page(admin_api, {
        "filter": {"tag": marker}, "order": {"field": "NAME"}, "first": 3}))["edges"]]
    assert names == [f"{marker} alpha", f"{marker} Bravo", f"{marker} charlie"]  # any case


async def test_each_filter_alone_and_combined(server, admin_api, seeded):
    marker, other_owner, ids = seeded
    owner_gid = relay.to_base64("TeamMember", other_owner)
    created = sorted({r["created_at"] for r in await _all_rows(server) if r["id"] in ids})
    filters = [
        {"states": ["COMPLETED", "PAUSED"]},
        {"states": []},
        {"ownerId": owner_gid},
        {"tag": f"PROMO-{marker}"},
        {"text": f"{marker.upper()}-G1"},
        {"text": f"{marker}-d2"},
        {"createdAfter": created[2].isoformat()},
        {"createdBefore": created[2].isoformat()},
        {"scheduledAfter": (BASE + timedelta(days=2)).isoformat()},
        {"scheduledBefore": (BASE + timedelta(days=2)).astimezone(PLUS_TWO).isoformat()},
        {"states": ["PROPOSED", "IN_PREPARATION", "READY", "PAUSED"], "ownerId": owner_gid,
         "tag": marker, "text": f"about {marker}", "createdAfter": created[0].isoformat(),
         "createdBefore": created[6].isoformat(), "scheduledAfter": BASE.isoformat(),
         "scheduledBefore": (BASE + timedelta(days=4)).isoformat()},
        {"tag": marker, "text": "nothing like this anywhere"},
    ]
    rows = await _all_rows(server)
    for f in filters:
        expected = _sorted([r for r in rows if _matches(r, f)])
        got, _ = await _forward(admin_api, {"filter": f}, 50)
        assert got == expected, f
    # The filters select something (and not everything) where they should.
    assert len([r for r in rows if _matches(r, filters[-2])]) == 2
    assert all(0 < len([r for r in rows if r["id"] in ids and _matches(r, f)]) < 25
               for f in filters[:10] if f.get("states") != [])


async def test_like_wildcards_in_text_match_literally(server, admin_api):
    marker = unique("wild")
    names = {key: f"{marker} {suffix}" for key, suffix in (
        ("percent", "50% off"), ("plain", "50 percent off"), ("underscore", "a_b"),
        ("letter", "axb"), ("bang", "x!y"), ("backslash", "x\\y"), ("other", "xzy"))}
    ids = {key: db_id(await create_campaign(admin_api, name)) for key, name in names.items()}
    for text, expected in ((f"{marker} 50%", ["percent"]), (f"{marker} A_B", ["underscore"]),
                           (f"{marker} x!", ["bang"]), (f"{marker} x\\", ["backslash"]),
                           (f"{marker} %", []), (f"{marker} _", []),
                           (f"{marker} 50", ["percent", "plain"])):
        got, _ = await _forward(admin_api, {"filter": {"text": text}}, 50)
        assert sorted(got) == sorted(ids[k] for k in expected), text


async def test_text_and_tag_filters_ignore_unicode_case(server, admin_api):
    """On SQLite too (whose own lower() folds ASCII only)."""
    marker = unique("fold")
    first = db_id(await create_campaign(admin_api, f"{marker} ÉTÉ MÜNCHEN"))
    second = db_id(await create_campaign(admin_api, f"{marker} other"))
    await server.call(server.platform.db.execute(
        "INSERT INTO drumbeat_campaign_tag (campaign, tag) VALUES ({}, {})",
        second, f"Ärger-{marker}"))
    got, _ = await _forward(admin_api, {"filter": {"text": f"{marker} été münchen"}}, 50)
    assert got == [first]
    got, _ = await _forward(admin_api, {"filter": {"tag": f"ärger-{marker.upper()}"}}, 50)
    assert got == [second]


async def test_bad_cursors_and_arguments_are_clear_errors(server, admin_api, seeded):
    marker, _, _ = seeded
    by_name = {"filter": {"tag": marker}, "order": {"field": "NAME", "direction": "ASC"}}
    cursor = (await _page(admin_api, {**by_name, "first": 2}))["pageInfo"]["endCursor"]
    assert len((await _page(admin_api, {**by_name, "first": 2, "after": cursor}))["edges"]) == 2

    def forged(*payload) -> str:
        return relay.to_base64("campaigns", json.dumps(list(payload)))

    bad = [
        ({"after": "not a cursor"}, "Invalid cursor."),
        ({"before": relay.to_base64("cursor", 5)}, "Invalid cursor."),
        ({"after": cursor, "order": {"field": "NAME", "direction": "DESC"}},
         "This cursor belongs to another ordering of campaigns."),
        ({"after": cursor, "order": None}, "This cursor belongs to another ordering of campaigns."),
        ({"after": forged("CREATED_AT:DESC", "yesterday", 1), "order": None}, "Invalid cursor."),
        ({"after": forged("CREATED_AT:DESC", None, 1), "order": None}, "Invalid cursor."),
        ({"after": forged("NAME:ASC", "x", 10**12)}, "Invalid cursor."),
        ({"after": forged("NAME:ASC", "x", True)}, "Invalid cursor."),
        ({"after": forged("NAME:ASC", 7, 1)}, "Invalid cursor."),
        ({"after": relay.to_base64("campaigns", "[" * 5000)}, "Invalid cursor."),
        ({"first": 101}, "first must be between 0 and 100."),
        ({"first": 2, "last": 2}, "Give either first or last, not both."),
        ({"filter": {"ownerId": relay.to_base64("Campaign", 1)}},
         "Expected the id of a TeamMember."),
        ({"filter": {"text": "x" * 201}}, "At most 200 characters."),
    ]
    for overrides, message in bad:
        body = await admin_api.execute(CAMPAIGNS, {**by_name, "first": 2, **overrides})
        assert body["data"] is None, overrides
        assert [e["message"] for e in body["errors"]] == [message], overrides
    # A NAME cursor that was not issued but is well formed just marks a position.
    page = await _page(admin_api, {**by_name, "first": 30,
                                   "after": forged("NAME:ASC", f"{marker} m", 1)})
    assert [e["node"]["name"].split(" ", 1)[1] for e in page["edges"]][:2] == ["mike", "November"]
