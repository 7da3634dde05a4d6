"""bench/campaign_stats' data: a campaign's audience, ledger and events loaded with COPY.

``load`` writes R = rows // 2 contacts and campaign recipients, then the ledger (R email
deliveries, then R call-task deliveries, one per recipient each) and ``events`` events of
the email step's sent deliveries (a share of the conversions on the call step's), all with
asyncpg ``copy_records_to_table``. COPY fires the ledger's statement triggers (one tally
delta per cell) and the event ledger's row triggers (each event updates its delivery's
marks, whose statement trigger appends the tally's deltas): nothing is bypassed.
Deterministic (``random.Random(13)``).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from drumbeat.platform.delivery_marks import (
    FIRST_IN_CAMPAIGN,
    FIRST_IN_STEP,
    FIRST_IN_TYPE,
)

DELIVERY_COLUMNS = ("id", "campaign", "step", "recipient", "target_kind", "target_id", "address",
                    "state", "skip_reason", "attempts", "lease_until", "retry_at", "claim_token",
                    "last_error", "message_id", "created_at", "finished_at", "variant",
                    "entry_no", "marks")
EVENT_COLUMNS = ("campaign", "delivery", "type", "detail", "client_hash", "suspected_bot",
                 "created_at")
#: Share of the events by type (of the email step's sent deliveries; CONVERTED partly on calls).
EVENT_MIX = (("OPENED", 0.50), ("CLICKED", 0.23), ("REPLIED", 0.08), ("BOUNCED", 0.05),
             ("UNSUBSCRIBED", 0.02), ("CONVERTED", 0.12))
EVENT_CHUNK = 50_000


def _email_state(rnd: random.Random) -> str:
    x = rnd.random()  # 2 % failed, 3 % skipped, 1 % pending, 0.5 % in progress, the rest done
    return ("failed" if x < .02 else "skipped" if x < .05 else "pending" if x < .06
            else "claimed" if x < .065 else "done")


def _call_state(rnd: random.Random) -> str:
    x = rnd.random()  # 1 % failed, 1 % skipped, 4 % pending (half of them deferred), the rest done
    return "failed" if x < .01 else "skipped" if x < .02 else "pending" if x < .06 else "done"


def deliveries(campaign: int, email_step: int, call_step: int, recipients: int,
               now: datetime, rnd: random.Random) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The ledger's rows (email step first, ids 1…2R), and the email and call rows that
    were sent as (id, finished_at)."""
    held = now.timestamp() + 86_400  # pending / claimed rows held: the reconciler leaves them
    start = now - timedelta(days=7)
    rows, sent_email, sent_call = [], [], []
    first_done: set[int] = set()  # recipients whose first done delivery is the email
    for step in (email_step, call_step):
        for r in range(1, recipients + 1):
            email = step == email_step
            did = r if email else recipients + r
            state = _email_state(rnd) if email else _call_state(rnd)
            created = start + timedelta(seconds=r * 7200 / recipients) + (
                timedelta() if email else timedelta(days=3))
            finished = created + timedelta(seconds=rnd.uniform(1, 600)) if state in (
                "done", "failed", "skipped") else None
            marks, lease, retry, token, error, skip = 0, None, None, None, None, None
            if state == "done":
                marks = FIRST_IN_STEP | FIRST_IN_TYPE
                if email or r not in first_done:
                    marks |= FIRST_IN_CAMPAIGN
                    first_done.add(r)
                (sent_email if email else sent_call).append((did, finished))
            elif state == "failed":
                error = "550 5.1.1 mailbox unavailable" if email else "no phone number"
            elif state == "skipped":
                skip = rnd.choice(("UNSUBSCRIBED", "BOUNCED", "SUPPRESSED", "DUPLICATE"))
            elif state == "claimed":
                lease, token = held, "bench"
            elif rnd.random() < .5:
                retry, error = held, "421 4.7.0 try again later"
            else:
                lease = held
            attempts = 0 if state in ("pending", "skipped") and retry is None else 1
            variant = ("A", "B")[r % 2] if email and state in ("done", "failed") else None
            rows.append((did, campaign, step, r, "contact", r,
                         f"person{r}@bench.example" if email else None, state, skip, attempts,
                         lease, retry, token, error,
                         f"<{did}.bench@bench.example>" if email and state == "done" else None,
                         created, finished, variant, 0, marks))
    return rows, sent_email, sent_call


def events(campaign: int, sent_email: list[tuple], sent_call: list[tuple], n: int,
           rnd: random.Random) -> list[tuple]:
    """``n`` events after their delivery's send, in time order; ~3 % of opens and clicks
    by bots. Opens and clicks repeat on some deliveries (a click's delivery was often opened)."""
    result = []
    opened: list[tuple] = []
    for kind, share in EVENT_MIX:
        count = round(n * share) if kind != "CONVERTED" else n - len(result)
        for _ in range(count):
            if kind == "CONVERTED" and rnd.random() < .2:
                did, sent = rnd.choice(sent_call)
            elif kind == "CLICKED" and opened and rnd.random() < .7:
                did, sent = rnd.choice(opened)
            else:
                did, sent = rnd.choice(sent_email)
            if kind == "OPENED":
                opened.append((did, sent))
            later = sent + timedelta(seconds=min(rnd.expovariate(1 / 7200), 6 * 86_400) + 1)
            bot = kind in ("OPENED", "CLICKED") and rnd.random() < .03
            detail = {"CLICKED": "https://bench.example/offer", "BOUNCED": "550 5.1.1 unknown user",
                      "REPLIED": "Re: Hello"}.get(kind, "")
            result.append((campaign, did, kind, detail, f"{rnd.getrandbits(64):016x}", bot, later))
    result.sort(key=lambda e: e[-1])
    return result


async def load(conn, campaign: int, email_step: int, call_step: int, rows: int,
               n_events: int) -> dict[str, float]:
    """Load everything; returns seconds per phase (and the events' per-chunk rates)."""
    recipients, rnd = rows // 2, random.Random(13)
    now = datetime.now(UTC)
    took: dict[str, float] = {}
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "drumbeat_contact", columns=("id", "first_name", "last_name", "email", "created_at"),
        records=[(r, f"First{r}", f"Last{r % 997}", f"person{r}@bench.example", now)
                 for r in range(1, recipients + 1)])
    await conn.copy_records_to_table(
        "drumbeat_campaign_recipient", columns=("id", "campaign", "kind", "contact", "added_at"),
        records=[(r, campaign, "contact", r, now) for r in range(1, recipients + 1)])
    took["contacts + recipients"] = time.perf_counter() - started
    ledger, sent_email, sent_call = deliveries(campaign, email_step, call_step, recipients, now, rnd)
    started = time.perf_counter()
    for at in range(0, len(ledger), recipients):  # one COPY per step
        await conn.copy_records_to_table("drumbeat_delivery", columns=DELIVERY_COLUMNS,
                                         records=ledger[at:at + recipients])
    took["ledger"] = time.perf_counter() - started
    for table in ("drumbeat_contact", "drumbeat_campaign_recipient", "drumbeat_delivery"):
        await conn.execute(f"SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))")
    # Statistics first, as autovacuum would have them by the time opens come in: without
    # them the trigger's UPDATE for a conversion plans a bitmap scan of every 'done' row.
    started = time.perf_counter()
    await conn.execute("ANALYZE drumbeat_contact, drumbeat_campaign_recipient, drumbeat_delivery")
    took["analyze"] = time.perf_counter() - started
    rows_of_events = events(campaign, sent_email, sent_call, n_events, rnd)
    started = time.perf_counter()
    chunk_rates = []
    for at in range(0, len(rows_of_events), EVENT_CHUNK):
        chunk = rows_of_events[at:at + EVENT_CHUNK]
        t = time.perf_counter()
        await conn.copy_records_to_table("drumbeat_delivery_event", columns=EVENT_COLUMNS,
                                         records=chunk)
        chunk_rates.append(len(chunk) / (time.perf_counter() - t))
    took["events"] = time.perf_counter() - started
    took["event chunk rates"] = chunk_rates  # type: ignore[assignment]
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE drumbeat_contact, drumbeat_campaign_recipient,"
                       " drumbeat_delivery, drumbeat_delivery_event, drumbeat_delivery_tally")
    took["vacuum analyze"] = time.perf_counter() - started
    return took
