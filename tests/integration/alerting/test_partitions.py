"""Alerting workers sharing the partitions of `mentions.scored`, on real Kafka and PostgreSQL.

- An epoch claim bumps `partition_owners`; a checkpoint at an older epoch is fenced, and a
  claim waits for a checkpoint that holds the share lock.
- A worker whose partition was taken (a zombie) neither saves that partition's state nor
  opens its incidents, and keeps working for its other partitions.
- Two workers in one group: partitions move to the second one and back during a crisis
  replay; the new owner goes on from the checkpoint (warm baselines), one incident per crisis.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.alerting.notify.housekeeping import TICK_LOCK, NotificationHousekeeper
from services.alerting.ownership import backend_pid, claim, end_blockers, stale_partitions
from shared.db.engine import transaction
from shared.db.models import PartitionOwnerRow
from shared.kafka import EventProducer, key_partition
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
from tests.detection_helpers import (
    CALM_HOURS,
    RunningAlerting,
    Stream,
    floor_minute,
    incidents,
    partition_owners,
    processed_until,
    publish,
    spike_state,
)
from tests.kafka_helpers import wait_for

PARTITIONS = 3  # of the test topics (`topics` fixture)


@pytest.fixture
def make_alerting(
    settings_factory: Callable[..., Any],
) -> Iterator[Callable[..., RunningAlerting]]:
    """Alerting services of one consumer group, tuned for a fast test clock."""
    started: list[RunningAlerting] = []

    def make(idle_flush_s: float = 3.0) -> RunningAlerting:
        settings = settings_factory(
            AlertingSettings,
            alerting_checkpoint_s=0.5,
            alerting_idle_flush_s=idle_flush_s,
            alerting_campaign_refresh_s=1.0,
            alerting_session_timeout_s=6.0,
        )
        service = RunningAlerting(settings)
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop.set()


def brands_per_partition(unique: str) -> dict[int, str]:
    """One brand name for each partition of the test topics."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < PARTITIONS:
        brand = f"brand-{unique}-{n}"
        found.setdefault(key_partition(brand.encode(), PARTITIONS), brand)
        n += 1
    return found


async def test_claim_bumps_the_epoch_and_fences_the_previous_owner(
    db_engine: AsyncEngine, unique: str
) -> None:
    topic = f"fencing.{unique}"
    async with transaction(db_engine) as session:
        first = await claim(session, topic=topic, partition=0, owner="a", previous=None)
    async with transaction(db_engine) as session:
        again = await claim(session, topic=topic, partition=0, owner="a", previous=first.epoch)
    assert again.continuous and again.epoch == first.epoch + 1
    async with transaction(db_engine) as session:
        taken = await claim(session, topic=topic, partition=0, owner="b", previous=None)
    assert not taken.continuous and taken.epoch == again.epoch + 1
    # The old owner's checkpoint check refuses its epoch; the new owner's passes.
    async with transaction(db_engine) as session:
        assert await stale_partitions(session, topic, {0: again.epoch}) == {0}
        assert await stale_partitions(session, topic, {0: taken.epoch}) == set()

    # A claim waits for a checkpoint in flight (it holds the share lock until it commits).
    checkpoint = db_engine.connect()
    conn = await checkpoint.__aenter__()
    tx = await conn.begin()
    try:
        await conn.execute(
            select(PartitionOwnerRow.epoch)
            .where(PartitionOwnerRow.topic == topic, PartitionOwnerRow.partition == 0)
            .with_for_update(read=True)
        )

        async def take() -> int:
            async with transaction(db_engine) as session:
                c = await claim(session, topic=topic, partition=0, owner="c", previous=None)
                return c.epoch

        claiming = asyncio.create_task(take())
        waiting = await wait_for(lambda: _lock_waiters(db_engine), lambda n: n > 0, timeout_s=20)
        assert waiting > 0 and not claiming.done(), "the claim did not wait for the checkpoint"
    finally:
        await tx.commit()
        await checkpoint.__aexit__(None, None, None)
    assert await asyncio.wait_for(claiming, timeout=20) == taken.epoch + 1


async def test_a_claim_ends_the_session_of_a_frozen_checkpoint(
    db_engine: AsyncEngine, unique: str
) -> None:
    topic = f"frozen.{unique}"
    async with transaction(db_engine) as session:
        old = await claim(session, topic=topic, partition=0, owner="frozen", previous=None)
    frozen = db_engine.connect()
    conn = await frozen.__aenter__()
    try:
        # The frozen owner's checkpoint: share lock taken, then nothing (SIGSTOP).
        await conn.begin()
        assert await _share_lock(conn, topic) == old.epoch

        async with transaction(db_engine) as session:
            pid = await backend_pid(session)
            watchdog = asyncio.create_task(end_blockers(db_engine, pid, after_s=0.5))
            try:
                new = await asyncio.wait_for(
                    claim(session, topic=topic, partition=0, owner="new", previous=None), 30
                )
            finally:
                watchdog.cancel()
        assert new.epoch == old.epoch + 1
        # The frozen checkpoint's session is gone: it can write nothing any more.
        with pytest.raises(DBAPIError):
            await conn.execute(text("SELECT 1"))
    finally:
        with contextlib.suppress(DBAPIError):
            await frozen.__aexit__(None, None, None)


async def _share_lock(conn: AsyncConnection, topic: str) -> int:
    return int(
        await conn.scalar(
            select(PartitionOwnerRow.epoch)
            .where(PartitionOwnerRow.topic == topic, PartitionOwnerRow.partition == 0)
            .with_for_update(read=True)
        )
        or 0
    )


async def test_one_housekeeping_tick_runs_at_a_time_across_replicas(db_engine: AsyncEngine) -> None:
    housekeeper = NotificationHousekeeper(engine=db_engine, settings=NotifySettings())
    async with db_engine.connect() as conn, conn.begin():
        # Another replica's tick holds the lock: this one skips.
        await conn.execute(select(func.pg_advisory_xact_lock(TICK_LOCK)))
        assert await housekeeper.tick(digest=False) is False
    assert await housekeeper.tick(digest=False) is True


async def _lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND query ILIKE '%partition_owners%'"
                )
            )
            or 0
        )


async def test_worker_that_lost_a_partition_writes_no_state_and_opens_no_incident(
    make_alerting: Callable[..., RunningAlerting],
    producer: EventProducer,
    db_engine: AsyncEngine,
    unique: str,
) -> None:
    by_partition = brands_per_partition(unique)
    lost, kept = by_partition[0], by_partition[1]
    alerting = make_alerting()
    topic = alerting.settings.topic_scored
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    stream = Stream(lost)
    calm = stream.calm(crisis_start - timedelta(hours=2), crisis_start)
    alerting.start()
    try:
        await publish(db_engine, producer, topic, calm)
        await processed_until(db_engine, lost, calm[-1].mention.created_at)
        held = await wait_for(
            lambda: partition_owners(db_engine, topic), lambda o: len(o) == PARTITIONS
        )
        # Another worker takes partition 0 (this one was paused past its session, say). The
        # claim waits for a checkpoint in flight: the state read next is the last one saved.
        async with transaction(db_engine) as session:
            await claim(session, topic=topic, partition=0, owner="intruder", previous=None)
        before = await spike_state(db_engine, lost)
        crisis = stream.crisis(crisis_start, 19)
        other = Stream(kept).crisis(crisis_start, 19)
        await publish(db_engine, producer, topic, crisis + other)

        def fenced() -> float:
            return alerting.metric("crisiswatch_alerting_fenced_writes_total", {"kind": "state"})

        async def probe() -> float:
            alerting.assert_running()
            return fenced()

        assert await wait_for(probe, lambda n: n >= 1, timeout_s=60) >= 1
        # Its other partitions go on: the crisis of the brand it still owns opens an incident.
        found = await wait_for(lambda: incidents(db_engine, kept), bool, timeout_s=120)
        assert len(found) == 1
        assert await incidents(db_engine, lost) == []
        assert await spike_state(db_engine, lost) == before, "a fenced worker saved state"
        assert alerting.metric("crisiswatch_alerting_partitions_owned") == PARTITIONS - 1
        assert (await partition_owners(db_engine, topic))[0][0] == "intruder"
        assert held[0][0] != "intruder"
    finally:
        await alerting.shutdown()


async def test_partitions_move_between_two_workers_during_a_crisis_replay(
    make_alerting: Callable[..., RunningAlerting],
    producer: EventProducer,
    db_engine: AsyncEngine,
    unique: str,
) -> None:
    by_partition = brands_per_partition(unique)
    # Bins close on event time alone (no idle flush while the workers rebalance): the
    # compressed crisis that follows the pause is not late.
    first, second = make_alerting(idle_flush_s=600), make_alerting(idle_flush_s=600)
    topic = first.settings.topic_scored
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    streams = {brand: Stream(brand) for brand in by_partition.values()}
    calm = [
        m
        for s in streams.values()
        for m in s.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    ]
    first.start()
    try:
        await publish(db_engine, producer, topic, calm)
        for brand in by_partition.values():
            await processed_until(db_engine, brand, crisis_start - timedelta(minutes=2))
        alone = await partition_owners(db_engine, topic)
        assert len({o for o, _ in alone.values()}) == 1
        first_owner = next(iter(alone.values()))[0]

        # A second worker joins: the group moves some partitions to it.
        second.start()

        async def split() -> dict[int, tuple[str, int]]:
            first.assert_running()
            second.assert_running()
            return await partition_owners(db_engine, topic)

        shared = await wait_for(
            split, lambda o: len({owner for owner, _ in o.values()}) == 2, timeout_s=60
        )
        moved = [p for p, (owner, _) in shared.items() if owner != first_owner]
        assert moved and len(moved) < PARTITIONS

        async def owned() -> float:
            name = "crisiswatch_alerting_partitions_owned"
            return first.metric(name) + second.metric(name)

        assert await wait_for(owned, lambda n: n == PARTITIONS, timeout_s=30) == PARTITIONS

        # The crisis replays while the first worker leaves: every partition moves again.
        crisis = [m for s in streams.values() for m in s.crisis(crisis_start, 19)]
        publishing = asyncio.create_task(publish(db_engine, producer, topic, crisis))
        await first.shutdown()
        await publishing
        for brand in by_partition.values():
            found = await wait_for(lambda b=brand: incidents(db_engine, b), bool, timeout_s=120)
            assert found, f"no incident for {brand}"
        for partition, brand in by_partition.items():
            last = max(m.mention.created_at for m in crisis if m.mention.brands == [brand])
            await processed_until(db_engine, brand, last - timedelta(minutes=2))
            found = await incidents(db_engine, brand)
            assert len(found) == 1, f"{brand}: {len(found)} incidents for one crisis"
            # The detectors went on from the stored baselines: a warm brand's rule opened it.
            assert found[0].rule != "negative_burst", f"{brand} (partition {partition}) was cold"
        final = await partition_owners(db_engine, topic)
        assert {owner for owner, _ in final.values()} == {shared[moved[0]][0]}
        assert all(final[p][1] > shared[p][1] for p in final)
        assert second.metric("crisiswatch_alerting_partitions_owned") == PARTITIONS
        for service in (first, second):
            for kind in ("state", "signal"):
                fenced = service.metric("crisiswatch_alerting_fenced_writes_total", {"kind": kind})
                assert fenced == 0, "a cooperative handover refused writes"
    finally:
        await first.shutdown()
        await second.shutdown()
