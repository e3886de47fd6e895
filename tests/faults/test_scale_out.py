"""Scale-out fault test: three sentiment and three alerting workers on 12 partitions.

Fifty brands chatter calmly; ten of them get a crisis. While the crisis is replayed through
the real pipeline (raw -> sentiment processes -> scored -> alerting processes), one
alerting and one sentiment worker are killed with SIGKILL and restarted, one alerting
worker is frozen (SIGSTOP) past its session timeout, so the group gives its partitions
away, and woken again, and one alerting worker is stopped cleanly. Checked: every mention
stored once, one incident per crisis brand and none for the calm ones, no notification
delivered twice, every partition ends owned at a newer epoch, and no detector state,
signal or incident was written by a worker that did not own the brand's partition at that
moment (`tests.write_audit`: triggers record each write with its writer and the owner).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.models import IncidentRow, MentionRow, OutboxRow
from shared.kafka import ensure_topics, key_partition
from shared.schemas import Mention
from shared.settings.sentiment import SentimentSettings
from tests.detection_helpers import partition_owners
from tests.fault_helpers import (
    CALM_TEXTS,
    NEGATIVE_TEXTS,
    WorkerProcess,
    assert_exactly_once,
    group_lag,
    mention,
    poll_until,
    produce,
    service_env,
    stored_counts,
)
from tests.kafka_helpers import SESSION_TOPIC_PREFIX
from tests.write_audit import WriteAudit
from tools.demo.receivers import Inbox, SlackWebhookReceiver

PARTITIONS = 12
BRANDS = 50
CRISES = 10
CALM_PER_BRAND = 30
CRISIS_PER_BRAND = 60
SESSION_TIMEOUT_S = 6


@pytest.fixture
def slack() -> Iterator[tuple[SlackWebhookReceiver, Inbox]]:
    """A local Slack webhook that records every message."""
    inbox = Inbox()
    receiver = SlackWebhookReceiver(inbox)
    receiver.start()
    yield receiver, inbox
    receiver.stop()


def _scenario(unique: str) -> tuple[list[str], list[Mention], list[Mention]]:
    """Brands, calm chatter of all of them, and the crisis of the first `CRISES`."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    brands = [f"scale{unique}b{i}" for i in range(BRANDS)]
    calm = [
        mention(
            brand,
            f"{brand}-calm-{i}",
            text=rng.choice(CALM_TEXTS),
            created_at=now - timedelta(minutes=30) + timedelta(seconds=rng.uniform(0, 1500)),
        )
        for brand in brands
        for i in range(CALM_PER_BRAND)
    ]
    crisis = [
        mention(
            brand,
            f"{brand}-crisis-{i}",
            text=NEGATIVE_TEXTS[0],  # one story: one topic, one incident
            author=f"{brand}-angry-{i}",
            created_at=now - timedelta(minutes=4) + timedelta(seconds=3 * i),
        )
        for brand in brands[:CRISES]
        for i in range(CRISIS_PER_BRAND)
    ]
    calm.sort(key=lambda m: m.created_at)
    crisis.sort(key=lambda m: m.created_at)
    return brands, calm, crisis


async def _incidents(engine: AsyncEngine, brands: list[str]) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(IncidentRow.brand, func.count())
            .where(IncidentRow.brand.in_(brands))
            .group_by(IncidentRow.brand)
        )
        return {str(b): int(n) for b, n in rows.all()}


async def _stored(engine: AsyncEngine, brands: list[str]) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(MentionRow).where(MentionRow.brand.in_(brands))
        )
        return int(count or 0)


async def test_three_alerting_and_three_sentiment_workers_survive_kills_and_pauses(
    settings_factory: Any,
    db_engine: AsyncEngine,
    unique: str,
    tmp_path: Path,
    slack: tuple[SlackWebhookReceiver, Inbox],
) -> None:
    receiver, inbox = slack
    names = {
        "topic_raw": f"{SESSION_TOPIC_PREFIX}{unique}.scale.raw",
        "topic_scored": f"{SESSION_TOPIC_PREFIX}{unique}.scale.scored",
        "topic_dlq": f"{SESSION_TOPIC_PREFIX}{unique}.scale.dlq",
    }
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_batch_size=100,
        sentiment_session_timeout_s=SESSION_TIMEOUT_S,
        # Enrichment in a thread of each worker (tests/faults/test_sentiment_crash.py kills
        # workers with child processes): three fewer interpreters to start on two cores.
        sentiment_enrich_processes=0,
        **names,
    )
    await ensure_topics(
        settings.bootstrap_servers,
        {names["topic_raw"]: PARTITIONS, names["topic_scored"]: PARTITIONS, names["topic_dlq"]: 1},
    )
    scored = names["topic_scored"]
    sentiment_env = service_env(settings)
    alerting_group = f"test-scale-alerting-{unique}"
    alerting_env = service_env(
        settings,
        CRISISWATCH_ALERTING_GROUP_ID=alerting_group,
        CRISISWATCH_ALERTING_METRICS_PORT="0",
        CRISISWATCH_ALERTING_CHECKPOINT_S="0.5",
        # Bins close on event time: a crisis replayed after a pause (a rebalance, a restart)
        # is not late for them, so the burst rule counts it.
        CRISISWATCH_ALERTING_IDLE_FLUSH_S="600",
        CRISISWATCH_ALERTING_SESSION_TIMEOUT_S=str(SESSION_TIMEOUT_S),
        CRISISWATCH_ALERTING_CLAIM_WAIT_S="4",
        CRISISWATCH_SLACK_WEBHOOK_URL=receiver.url,
        CRISISWATCH_ROUTES=json.dumps({s: ["slack"] for s in ("SEV1", "SEV2", "SEV3", "SEV4")}),
        CRISISWATCH_OUTBOX_POLL_INTERVAL_S="0.2",
    )

    def sentiment(name: str) -> WorkerProcess:
        return WorkerProcess(sentiment_env, tmp_path / f"{name}.log")

    def alerting(name: str) -> WorkerProcess:
        return WorkerProcess(alerting_env, tmp_path / f"{name}.log", command="alerting")

    workers = [sentiment(f"sentiment-{i}") for i in range(3)] + [
        alerting(f"alerting-{i}") for i in range(3)
    ]
    brands, calm, crisis = _scenario(unique)
    audit = WriteAudit(f"scale_audit_{unique}", scored)
    await audit.install(db_engine, {b: key_partition(b.encode(), PARTITIONS) for b in brands})
    try:
        for worker in workers:
            worker.start()

        async def three_owners() -> bool:
            owners = await partition_owners(db_engine, scored)
            return len(owners) == PARTITIONS and len({o for o, _ in owners.values()}) == 3

        await poll_until(
            three_owners, timeout_s=90, what="3 alerting workers sharing 12 partitions"
        )
        first_epochs = await partition_owners(db_engine, scored)

        await produce(settings.bootstrap_servers, names["topic_raw"], calm)
        half = len(crisis) // 2
        await produce(settings.bootstrap_servers, names["topic_raw"], crisis[:half])
        # Mid-crisis: SIGKILL one alerting and one sentiment worker, freeze another alerting
        # once it wrote state for its brands (it then holds state the others take over).
        killed_alerting, frozen, stopped = workers[3], workers[4], workers[5]
        frozen_owner = await _owner_of(frozen)

        async def frozen_wrote() -> bool:
            return any(w.writer == frozen_owner for w in await audit.writes(db_engine))

        await poll_until(frozen_wrote, timeout_s=60, what="the worker to freeze to write state")
        killed_alerting.kill9()
        workers[0].kill9()
        frozen.pause()
        await produce(settings.bootstrap_servers, names["topic_raw"], crisis[half:])

        async def moved_off_frozen() -> bool:
            owners = await partition_owners(db_engine, scored)
            return all(owner != frozen_owner for owner, _ in owners.values())

        await poll_until(
            moved_off_frozen, timeout_s=60, what="the partitions of the frozen worker to move"
        )
        # The frozen worker wakes up as a zombie; the killed ones come back.
        frozen.resume()
        workers.append(alerting("alerting-0-restarted"))
        workers.append(sentiment("sentiment-0-restarted"))
        workers[-2].start()
        workers[-1].start()
        stopped.terminate()  # a clean stop, awaited below

        total = len(calm) + len(crisis)
        await poll_until(
            lambda: _stored_at_least(db_engine, brands, total),
            timeout_s=120,
            what=f"{total} mentions stored",
        )
        expected: dict[str, set[str]] = {}
        for m in calm + crisis:
            expected.setdefault(m.brands[0], set()).add(m.external_id)
        for brand in brands:
            assert_exactly_once(await stored_counts(db_engine, brand), expected[brand])

        crisis_brands = brands[:CRISES]
        await poll_until(
            lambda: _incidents_for(db_engine, crisis_brands),
            timeout_s=120,
            what="an incident for every crisis",
        )
        # Every record scored, published and committed by the sentiment group, then every
        # scored record processed and checkpointed: no incident can come later.
        raw_topic = names["topic_raw"]
        group = settings.sentiment_group_id
        await poll_until(
            lambda: _no_lag(settings.bootstrap_servers, group, raw_topic),
            timeout_s=60,
            what="the sentiment group to commit every record",
        )
        await poll_until(
            lambda: _no_lag(settings.bootstrap_servers, alerting_group, scored),
            timeout_s=60,
            what="the alerting group to commit every record",
        )
        settled = await _incidents(db_engine, brands)
        assert settled == {b: 1 for b in crisis_brands}, f"incidents per brand: {settled}"

        await poll_until(
            lambda: _outbox_sent(db_engine, crisis_brands),
            timeout_s=60,
            what="the notifications delivered",
        )
        texts = Counter(item.summary for item in inbox.items() if item.channel == "slack")
        doubled = {text: n for text, n in texts.items() if n > 1}
        assert not doubled, f"notifications delivered twice: {doubled}"
        assert texts, "no notification reached Slack"

        assert stopped.stop() == 0, stopped.log()[-2000:]
        final = await partition_owners(db_engine, scored)
        assert all(final[p][1] > first_epochs[p][1] for p in final)
        writes = await audit.writes(db_engine)
        stray = [w for w in writes if not w.by_owner]
        assert not stray, f"written by a worker that did not own the partition: {stray[:5]}"
        tables = Counter(w.table for w in writes)
        assert tables["incidents"] == CRISES and tables["signals"] >= CRISES, tables
        # The frozen worker wrote before its partitions moved, and whoever took them over
        # wrote after: the audit saw the handover. (How many of the killed and stopped
        # workers checkpointed before they went depends on scheduling: one full run under
        # load saw only these two.)
        writers = {w.writer for w in writes}
        assert frozen_owner in writers and len(writers) >= 2, f"the audit saw {writers}"
        for worker in workers:
            if worker not in (killed_alerting, workers[0], stopped):
                assert worker.alive(), worker.log()[-3000:]
    finally:
        for worker in workers:
            if worker.proc is not None and worker.alive():
                with contextlib.suppress(Exception):
                    worker.resume()
                worker.terminate()
        for worker in workers:
            worker.stop()
        await audit.remove(db_engine)


async def _owner_of(worker: WorkerProcess) -> str:
    """The owner id the worker logged with its last claim. The claim is committed before it
    is logged (the partitions' states are restored in between), so the database can show
    the owner a moment before the worker's log does: wait for the line."""

    def claims() -> list[str]:
        return re.findall(r"claimed by (\S+)", worker.log())

    await poll_until(claims, timeout_s=30, what=f"a claim in the log: {worker.log()[-2000:]}")
    return str(claims()[-1])


async def _stored_at_least(engine: AsyncEngine, brands: list[str], total: int) -> bool:
    return await _stored(engine, brands) >= total


async def _incidents_for(engine: AsyncEngine, brands: list[str]) -> bool:
    return set(await _incidents(engine, brands)) >= set(brands)


async def _no_lag(bootstrap: str, group: str, topic: str) -> bool:
    return await group_lag(bootstrap, group, topic, PARTITIONS) == 0


async def _outbox_sent(engine: AsyncEngine, brands: list[str]) -> bool:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(OutboxRow.status)
                .join(IncidentRow, IncidentRow.id == OutboxRow.incident_id)
                .where(IncidentRow.brand.in_(brands))
            )
        ).all()
    statuses = [status for (status,) in rows]
    return "sent" in statuses and not {"pending", "sending"} & set(statuses)
