"""A bounded property-based run over every query and mutation of the schema.

hypothesis-graphql writes well-typed operations from the schema's SDL (random selections,
random argument values; ``ID`` arguments are mostly real ids harvested from earlier
answers). They go to a live server on SQLite, with the demo data loaded, first as an admin
(queries, then mutations), then anonymously, then as the admin again with one schema
violation each (hypothesis-graphql's negative mode). Each operation gets a fixed number
of examples, derandomized, with no shrinking. Afterwards: no HTTP 5xx, no unmasked error, no
internal error (see tests/support/fuzz.py for what each means), and the server still answers.

It runs on the SQLite leg of CI only (the schema layer is the same on every backend; the
run costs ~2 minutes). DRUMBEAT_FUZZ_EXAMPLES raises the count for a longer local hunt.
"""

from __future__ import annotations

import os

import graphql
import httpx
import pytest
import strawberry
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import InvalidArgument
from hypothesis_graphql import Mode, from_schema

from drumbeat import GraphQLContribution, hookimpl
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.schema import build_schema
from tests.conftest import member_token
from tests.support.fuzz import MASKED, Findings, IdPool, ServerLog, custom_scalars, global_id

EXAMPLES = int(os.environ.get("DRUMBEAT_FUZZ_EXAMPLES", "8"))
ANONYMOUS_EXAMPLES = max(1, EXAMPLES // 4)
INVALID_EXAMPLES = max(1, EXAMPLES // 4)  # one schema violation each: validation's answers

SEED_QUERY = """{
  me { id }
  campaigns(first: 50) { edges { node { id } } }
  contacts(first: 50) { edges { node { id company { id } } } }
  companies(first: 50) { edges { node { id } } }
  templates(first: 50) { edges { node { id } } }
  segments(first: 50) { edges { node { id } } }
  lists(first: 50) { edges { node { id } } }
}"""


@pytest.fixture
def sqlite_backend(backend):
    if backend.database_url.startswith("postgres"):
        pytest.skip("the fuzz run is on the SQLite leg of CI (the schema is the same on every backend)")
    return backend


def _root_fields(schema: graphql.GraphQLSchema) -> tuple[list[str], list[str]]:
    return sorted(schema.query_type.fields), sorted(schema.mutation_type.fields)


def test_fuzz_every_query_and_mutation(sqlite_backend, server):
    from drumbeat.platform.demo import load_demo

    server.call_sync(load_demo(server.platform))
    member_id, token = server.call_sync(member_token(server, "ADMIN"))
    victim_id, _ = server.call_sync(member_token(server, "MARKETER"))
    sdl = build_schema(plugins=server.platform.plugins).as_str()
    schema = graphql.build_schema(sdl)
    queries, mutations = _root_fields(schema)
    # The fuzzing admin's own ids are never offered: a fuzzed teamMemberUpdate or tokenRevoke
    # of itself would end the run; another member's are (the victim, created above).
    own_tokens = server.call_sync(_token_ids(member_id))
    pool = IdPool(spare={global_id("TeamMember", member_id),
                         *(global_id("ApiToken", t) for t in own_tokens)})
    findings = Findings()
    sent = 0

    with httpx.Client(base_url=server.url, timeout=60) as http, ServerLog() as log:

        def post(query: str, token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return http.post("/graphql", json={"query": query}, headers=headers)

        seeded = post(SEED_QUERY, token).json()
        assert not seeded.get("errors"), seeded
        pool.harvest(seeded)
        pool.harvest({"id": global_id("TeamMember", victim_id)})
        scalars = custom_scalars(pool)

        def fuzz(operation: str, as_token: str | None, examples: int,
                 mode: Mode = Mode.POSITIVE) -> None:
            nonlocal sent

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(query=from_schema(schema, fields=[operation], custom_scalars=scalars,
                                     mode=mode))
            def run(query: str) -> None:
                nonlocal sent
                log.take()
                response = post(query, as_token)
                sent += 1
                findings.check(operation, query, response.status_code, response.text, log.take())
                if response.status_code == 200:
                    pool.harvest(response.json())

            try:
                run()
            except InvalidArgument:
                # Negative mode needs an argument to violate (``me`` has none).
                if mode is Mode.POSITIVE:
                    raise

        for operation in queries + mutations:
            fuzz(operation, token, EXAMPLES)
        for operation in queries + mutations:
            fuzz(operation, None, ANONYMOUS_EXAMPLES)
            fuzz(operation, token, INVALID_EXAMPLES, Mode.NEGATIVE)

        alive = post("{ __typename }", None)
        health = http.get("/health")
        still_admin = post("{ me { role } }", token).json()

    print(f"\nfuzz: {sent} requests over {len(queries)} queries and {len(mutations)} mutations, "
          f"{len(pool.ids)} ids harvested")
    for line in findings.of("HTTP 5xx", "unmasked error", "internal error"):
        print(line)
    assert alive.status_code == 200 and alive.json() == {"data": {"__typename": "Query"}}, alive.text
    assert health.status_code == 200, health.text
    # The admin passes ran as the admin throughout (no fuzzed mutation took its rights).
    assert still_admin == {"data": {"me": {"role": "ADMIN"}}}, still_admin
    assert sent >= len(queries + mutations) * (EXAMPLES + ANONYMOUS_EXAMPLES + INVALID_EXAMPLES) // 2
    assert not findings.of("HTTP 5xx"), "\n".join(findings.of("HTTP 5xx"))
    assert not findings.of("unmasked error"), "\n".join(findings.of("unmasked error"))
    assert not findings.of("internal error"), (
        f"{MASKED!r} answers, each an exception inside the server:\n"
        + "\n".join(findings.of("internal error")))


async def _token_ids(member_id: int) -> list[int]:
    from drumbeat.platform.tables import ApiToken

    rows = await ApiToken.select(ApiToken.id).where(ApiToken.member == member_id)
    return [row["id"] for row in rows]


@strawberry.type
class FaultyQueries:
    @strawberry.field
    def fuzz_crash(self) -> str:
        raise RuntimeError("internal detail 0x5eed")

    @strawberry.field
    def fuzz_leak(self) -> str:
        try:
            return {}["x"].upper()
        except Exception as exc:  # the class of bug the oracle looks for: an exception's text
            raise DomainError.one(f"failed: {exc!r}", ErrorCode.INVALID) from exc


class FaultyPlugin:
    @hookimpl
    def drumbeat_graphql(self):
        return [GraphQLContribution(query=FaultyQueries)]


def test_the_fuzz_oracle_sees_internal_and_unmasked_errors(make_server):
    """The checks above can fail: a crashing field is an internal (masked) error, an
    exception's text passed on as a message is an unmasked one, a plain field is neither."""
    server = make_server(extra_plugins=[FaultyPlugin()])
    findings = Findings()
    with httpx.Client(base_url=server.url, timeout=60) as http, ServerLog() as log:
        for field in ("fuzzCrash", "fuzzLeak", "__typename"):
            response = http.post("/graphql", json={"query": f"{{ {field} }}"})
            findings.check(field, field, response.status_code, response.text, log.take())
    assert [line.split(":")[0] for line in findings.of("internal error")] == [
        "[internal error] fuzzCrash"]
    assert [line.split(":")[0] for line in findings.of("unmasked error")] == [
        "[unmasked error] fuzzLeak"]
    assert not findings.of("HTTP 5xx")
