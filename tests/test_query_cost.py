"""A page of campaigns with nested fields costs a bounded number of SQL queries, whatever
the page size (DataLoaders batch every per-campaign field)."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient

FIELDS = """id name owner { id name } createdBy { id } tags steps { actionType }
  counters { total done }"""
PAGE = "query($n: Int!) { campaigns(first: $n) { edges { node { %s } } } }"
EXTRA_FIELDS = ("budget", "performance")  # added when the schema has them


class QueryCounter:
    """Counts the statements the server's database engine runs (instrumentation only: the
    real engine still runs every query). Wraps the engine class's method, since asyncpg's
    engine does not allow instance attributes to be replaced."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self._class = type(engine)
        self._original = self._class.run_querystring

    def __enter__(self):
        counter, original = self, self._original

        async def counting(engine, *args, **kwargs):
            if engine is counter.engine:
                counter.count += 1
            return await original(engine, *args, **kwargs)

        self._class.run_querystring = counting
        return self

    def __exit__(self, *exc):
        self._class.run_querystring = self._original


async def _selection(admin_api) -> str:
    fields = await admin_api.data('{ __type(name: "Campaign") { fields { name } } }')
    names = {f["name"] for f in fields["__type"]["fields"]}
    extra = {
        "budget": "budget { total spent remaining utilisation }",
        "performance": "performance { __typename }",
    }
    return FIELDS + " " + " ".join(extra[f] for f in EXTRA_FIELDS if f in names)


async def test_a_page_of_campaigns_costs_a_bounded_number_of_queries(make_server):
    # No reconciler pass may run on the counted engine meanwhile.
    server = make_server(reconcile_interval_seconds=3600)
    _, token = await member_token(server, "ADMIN")
    admin_api = GraphQLClient(server.url, token)
    db = server.platform.db
    me = (await admin_api.data("{ me { id } }"))["me"]["id"]
    from strawberry import relay
    member = int(relay.GlobalID.from_id(me).node_id)
    stamp = datetime.now(timezone.utc)
    tag = unique("cost")
    for i in range(100):
        row = await server.call(db.fetchrow(
            "INSERT INTO drumbeat_campaign (name, goal, description, results, owner, created_by,"
            " state, sender_strategy, dispatch_strategy, send_emails, currency, created_at,"
            " updated_at) VALUES ({}, '', '', '', {}, {}, 'PROPOSED', 'OWNER', 'CONTACT', {},"
            " 'EUR', {}, {}) RETURNING id",
            f"{tag} {i}", member, member, True, stamp, stamp))
        await server.call(db.execute(
            "INSERT INTO drumbeat_campaign_tag (campaign, tag) VALUES ({}, {})", row["id"], "t"))
    selection = await _selection(admin_api)
    counts = {}
    for size in (5, 100):
        with QueryCounter(db.engine) as counter:
            data = await admin_api.data(PAGE % selection, {"n": size})
        assert len(data["campaigns"]["edges"]) == size
        counts[size] = counter.count
    assert counts[100] == counts[5], counts
    assert counts[100] <= 20, counts
