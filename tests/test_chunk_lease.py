"""A running chunk keeps its lease and stops once it lost it (issue 14).

- A claim never takes more rows than the chunk size, however many of its id range are
  claimable.
- A chunk that takes longer than its lease (a slow SMTP server) renews it and sends each
  message once; before, the lease lapsed, the reconciler gave its rows to another chunk and
  they were sent twice.
- Once another worker took a chunk's rows, or its campaign stopped running, the chunk hands
  out nothing more (``ChunkProgress.may_send``), and says why.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from drumbeat.platform import ledger
from drumbeat.platform.actions import Outcome, Target
from drumbeat.platform.chunk_progress import ChunkProgress
from drumbeat.platform.execution import run_chunk
from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient
from tests.support.queries import CAMPAIGN, db_id, launch_to_new_contacts
from tests.support.smtp import SmtpSink


async def _launched(server, size: int) -> tuple[GraphQLClient, str, list[str]]:
    api = GraphQLClient(server.url, (await member_token(server, "ADMIN"))[1])
    campaign, addresses = await launch_to_new_contacts(api, unique("lease"), size)
    return api, campaign, addresses


async def _completed(api, campaign: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (state := (await api.data(CAMPAIGN, {"id": campaign}))["campaign"])["state"] != "COMPLETED":
        assert time.monotonic() < deadline, f"not completed: {state}"
        await asyncio.sleep(0.05)
    return state


async def _rerun(server, campaign: str) -> list[int]:
    """Put a finished campaign's rows back to pending (held from the reconciler for an hour)
    and the campaign to RUNNING, for claims made by hand; returns the rows' ids."""
    db, cid = server.platform.db, db_id(campaign)
    await server.call(db.execute(
        "UPDATE drumbeat_delivery SET state = 'pending', claim_token = NULL, retry_at = NULL,"
        " lease_until = {} WHERE campaign = {}", time.time() + 3600, cid))
    await server.call(db.execute("UPDATE drumbeat_campaign SET state = 'RUNNING' WHERE id = {}",
                                 cid))
    return [r["id"] for r in await server.call(db.fetch(
        "SELECT id FROM drumbeat_delivery WHERE campaign = {} ORDER BY id", cid))]


async def _stop(server, campaign: str) -> None:
    await server.call(server.platform.db.execute(
        "UPDATE drumbeat_campaign SET state = 'CANCELLED' WHERE id = {}", db_id(campaign)))


def _chunk(server, campaign: str, ids: list[int], step: int) -> ledger.Chunk:
    return ledger.Chunk(db_id(campaign), step, ids[0], ids[-1])


async def _step(server, campaign: str) -> int:
    return await server.call(server.platform.db.fetchval(
        "SELECT step FROM drumbeat_delivery WHERE campaign = {} LIMIT 1", db_id(campaign)))


async def test_a_claim_takes_at_most_the_chunk_size(server, smtp_sink):
    api, campaign, _ = await _launched(server, 25)
    await _completed(api, campaign)
    ids = await _rerun(server, campaign)
    chunk = _chunk(server, campaign, ids, await _step(server, campaign))
    try:
        first = await server.call(ledger.claim(server.platform.db, chunk, 60, 10))
        second = await server.call(ledger.claim(server.platform.db, chunk, 60, 10))
        assert [r["id"] for r in first.rows] == ids[:10], "the first 10 claimable, in id order"
        assert [r["id"] for r in second.rows] == ids[10:20]
        assert first.until > time.time() + 50
    finally:
        await _stop(server, campaign)


async def test_a_chunk_slower_than_its_lease_keeps_it_and_sends_once(make_server):
    sink = SmtpSink(delay=0.15).start()  # 20 messages over 2 sessions: ~1.5 s > the lease
    try:
        server = make_server(smtp_url=sink.url, chunk_size=20, lease_seconds=1.0,
                             redeliver_after_seconds=0.5, reconcile_interval_seconds=0.1,
                             smtp_connections=2)
        api, campaign, addresses = await _launched(server, 20)
        state = await _completed(api, campaign)
        assert state["counters"]["done"] == 20 and state["counters"]["failed"] == 0
        await asyncio.sleep(0.5)  # a second sender, if any, would be under way by now
        received = Counter(m.rcpt_to[0] for m in sink.messages(db_id(campaign)))
        assert received == Counter(addresses), "each recipient exactly once"
        attempts = await server.call(server.platform.db.fetch(
            "SELECT attempts FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign)))
        assert {r["attempts"] for r in attempts} == {1}, "nobody re-claimed the slow chunk"
    finally:
        sink.stop()


async def _progress_scenario(server, campaign: str, ids: list[int], steal: str):
    """Claim the rows, open a ChunkProgress on them, then ``steal`` them (another worker
    takes them) or stop the campaign; returns what may_send said before and after, and
    why it stopped."""
    db = server.platform.db
    chunk = _chunk(server, campaign, ids, await _step(server, campaign))
    claim = await ledger.claim(db, chunk, 0.9, 50)
    recorded: list = []

    async def record(outcomes):
        recorded.extend(outcomes)

    target = Target(delivery_id=ids[0], key="k", kind="contact", id=1, address="a@b.c",
                    attempt=1, data={})
    async with ChunkProgress(db, claim, record, campaign_id=chunk.campaign_id,
                             step_id=chunk.step_id, lease_seconds=0.9,
                             max_unrecorded=4) as progress:
        before = await progress.may_send(target)
        if steal == "rows":
            await db.execute("UPDATE drumbeat_delivery SET claim_token = 'thief' WHERE"
                             " claim_token = {}", claim.token)
        else:
            await db.execute("UPDATE drumbeat_campaign SET state = 'PAUSED' WHERE id = {}",
                             chunk.campaign_id)
        deadline = time.monotonic() + 10
        while progress.stopped is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        after = await progress.may_send(target)
        return before, after, progress.stopped, progress.not_sent(target)


async def test_a_chunk_whose_rows_were_taken_stops_sending(server, smtp_sink):
    api, campaign, _ = await _launched(server, 5)
    await _completed(api, campaign)
    ids = await _rerun(server, campaign)
    try:
        before, after, why, outcome = await server.call(
            _progress_scenario(server, campaign, ids, "rows"))
    finally:
        await _stop(server, campaign)
    assert (before, after) == (True, False)
    assert why == "the lease was lost"
    assert (outcome.status, outcome.counts) == ("retry", False)
    assert outcome.error == "not sent: the lease was lost"


async def test_a_chunk_whose_campaign_stopped_stops_sending(server, smtp_sink):
    api, campaign, _ = await _launched(server, 5)
    await _completed(api, campaign)
    ids = await _rerun(server, campaign)
    try:
        before, after, why, _ = await server.call(
            _progress_scenario(server, campaign, ids, "campaign"))
    finally:
        await _stop(server, campaign)
    assert (before, after) == (True, False)
    assert why == "the campaign is not running any more"


async def test_sending_waits_while_too_many_accepted_messages_are_unmarked(server, smtp_sink):
    """The gate holds a sender back while max_unrecorded accepted messages wait to be
    written down, and lets it go on once they are."""
    api, campaign, _ = await _launched(server, 5)
    await _completed(api, campaign)
    ids = await _rerun(server, campaign)

    async def scenario():
        db = server.platform.db
        chunk = _chunk(server, campaign, ids, await _step(server, campaign))
        claim = await ledger.claim(db, chunk, 30, 50)
        release = asyncio.Event()
        marked: list[int] = []

        async def accept(pairs):
            await release.wait()  # the database is slow to answer
            await ledger.mark_accepted(db, claim, pairs)
            marked.extend(i for i, _ in pairs)

        async def record(outcomes):
            pass

        targets = [Target(delivery_id=i, key=f"k{i}", kind="contact", id=i, address="a@b.c",
                          attempt=1, data={}) for i in ids]
        async with ChunkProgress(db, claim, record, campaign_id=chunk.campaign_id,
                                 step_id=chunk.step_id, lease_seconds=30, max_unrecorded=2,
                                 accept=accept) as progress:
            for t in targets[:2]:
                assert await progress.may_send(t)
                progress.report(Outcome.done(t, f"<m{t.delivery_id}>"))
            waiting = asyncio.create_task(progress.may_send(targets[2]))
            await asyncio.sleep(0.6)
            held_back = not waiting.done()
            release.set()
            let_go = await asyncio.wait_for(waiting, 5)
            await progress.finish([])
        stored = await db.fetch("SELECT delivery, message_id FROM drumbeat_delivery_accepted"
                                " WHERE delivery IN ({}, {})", *ids[:2])
        return held_back, let_go, marked, {r["delivery"]: r["message_id"] for r in stored}

    try:
        held_back, let_go, marked, stored = await server.call(scenario())
    finally:
        await _stop(server, campaign)
    assert held_back and let_go
    assert marked == ids[:2]
    assert stored == {ids[0]: f"<m{ids[0]}>", ids[1]: f"<m{ids[1]}>"}


async def test_a_message_accepted_before_a_crash_is_recorded_not_sent_again(server, smtp_sink):
    """A worker died after the server accepted a message and its acceptance was written
    down, before the chunk was recorded: the next claim records it done — even with its
    attempts used up — and sends only the others; the note is gone once recorded."""
    api, campaign, addresses = await _launched(server, 4)
    await _completed(api, campaign)
    before = len(smtp_sink.messages(db_id(campaign)))
    ids = await _rerun(server, campaign)
    db = server.platform.db
    kept = await server.call(db.fetchval("SELECT message_id FROM drumbeat_delivery"
                                         " WHERE id = {}", ids[0]))
    await server.call(db.execute("UPDATE drumbeat_delivery SET message_id = NULL WHERE"
                                 " campaign = {}", db_id(campaign)))
    await server.call(db.execute("INSERT INTO drumbeat_delivery_accepted (delivery, message_id)"
                                 " VALUES ({}, {})", ids[0], kept))
    await server.call(db.execute("UPDATE drumbeat_delivery SET attempts = {} WHERE id = {}",
                                 server.settings.max_attempts, ids[0]))
    chunk = _chunk(server, campaign, ids, await _step(server, campaign))
    try:
        assert await server.call(run_chunk(server.platform, chunk)) == 4
        rows = await server.call(db.fetch("SELECT id, state, message_id FROM drumbeat_delivery"
                                          " WHERE campaign = {} ORDER BY id", db_id(campaign)))
        notes = await server.call(db.fetchval(
            "SELECT count(*) FROM drumbeat_delivery_accepted WHERE delivery = {}", ids[0]))
    finally:
        await _stop(server, campaign)
    assert [r["state"] for r in rows] == ["done"] * 4
    assert rows[0]["message_id"] == kept and notes == 0
    again = [m.rcpt_to[0] for m in smtp_sink.messages(db_id(campaign))[before:]]
    assert sorted(again) == sorted(addresses[1:]), "the accepted one is not sent again"
