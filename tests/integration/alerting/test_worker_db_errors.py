"""Database errors at the alerting checkpoint, against the real PostgreSQL and Kafka.

- Data: a scored mention whose language holds a NUL character gives a signal whose scope
  the database refuses (jsonb cannot hold \\u0000). That signal is dead-lettered with the reason;
  the signal of another brand in the same stream opens its incident, and the worker goes on.
- Transient: the worker's backend is terminated (`pg_terminate_backend`) while its
  checkpoint waits on a lock; the checkpoint is retried with back-off and stores the
  incident once.
- Fatal: a trigger answers one brand's signal with SQLSTATE 42501 (insufficient privilege);
  the service stops with `FatalDatabaseError` naming it.

Signals come from the critical-keyword rule: one credible mention of a recall pages at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import serde
from shared.db.models import SignalRow
from shared.kafka import EventProducer
from shared.resilience import FatalDatabaseError
from shared.schemas import DeadLetter, Engagement, Mention, ScoredMention, SentimentScore
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import RunningAlerting, incidents
from tests.kafka_helpers import read_topic, wait_for


@pytest.fixture
async def service(settings_factory: Callable[..., Any]) -> AsyncIterator[RunningAlerting]:
    """An alerting service on this test's topics; stopped (and awaited) afterwards."""
    settings = settings_factory(
        AlertingSettings, alerting_checkpoint_s=0.5, alerting_campaign_refresh_s=60.0
    )
    running = RunningAlerting(settings)
    yield running
    running.stop.set()
    if running.task is not None and not running.task.done():
        await asyncio.wait_for(running.task, timeout=60)


def db_errors(service: RunningAlerting, kind: str) -> float:
    """`crisiswatch_alerting_db_errors_total{kind}` so far."""
    return service.metric("crisiswatch_alerting_db_errors_total", {"kind": kind})


def recall(brand: str, n: int, *, language: str = "en") -> ScoredMention:
    """A credible mention of a recall (50k followers): the critical-keyword rule fires."""
    return ScoredMention(
        mention=Mention(
            platform="x",
            external_id=f"{brand}-{n}",
            author_id=f"author-{n}",
            author_reach=50_000,
            text="they are recalling it",
            created_at=datetime.now(UTC),
            engagement=Engagement(likes=3),
            brands=[brand],
            source={"market": "US"},
        ),
        language=language,
        language_confidence=0.99,
        sentiment=SentimentScore(label="negative", score=-0.8, confidence=0.9, scorer="test"),
        topics=["recall"],
    )


async def produce(producer: EventProducer, topic: str, items: list[ScoredMention]) -> None:
    """Produce scored mentions to the topic the service consumes."""
    await producer.send_many(
        topic, [(s.mention.key, serde.dumps(s.model_dump(mode="json"))) for s in items]
    )


async def signals(engine: AsyncEngine, brand: str) -> list[Any]:
    """Every stored signal of `brand`."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(SignalRow).where(SignalRow.brand == brand))).all())


async def test_data_error_dead_letters_the_signal_and_the_next_one_is_stored(
    service: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    poisoned, healthy = f"nul-{unique}", f"fine-{unique}"
    service.start()
    await produce(
        producer,
        service.settings.topic_scored,
        [recall(poisoned, 1, language="e\x00n"), recall(healthy, 2)],
    )
    letters = await read_topic(
        service.settings.bootstrap_servers, service.settings.topic_dlq, expected=1, timeout_s=90
    )
    found = await wait_for(lambda: incidents(db_engine, healthy), bool, timeout_s=60)
    service.assert_running()

    assert len(letters) == 1, [r.value for r in letters]
    letter = DeadLetter.model_validate(serde.loads(letters[0].value))
    assert letter.stage == "alerting" and letter.source == "alerting-checkpoint"
    assert letter.reason.startswith("database refused the signal: 22P05"), letter.reason
    original = serde.loads(letter.original)
    assert original["kind"] == "signal" and original["brand"] == poisoned
    assert original["rule"] == "critical_keyword" and original["scope"]["languages"] == ["e\x00n"]

    assert len(found) == 1 and found[0].category == "recall"
    assert len(await signals(db_engine, healthy)) == 1
    assert await incidents(db_engine, poisoned) == []
    assert await signals(db_engine, poisoned) == []
    assert db_errors(service, "data") >= 1
    assert db_errors(service, "fatal") == 0
    assert service.registry.get_sample_value("crisiswatch_alerting_dlq_total") == 1

    # The worker moved on: a later signal is stored too.
    later = f"later-{unique}"
    await produce(producer, service.settings.topic_scored, [recall(later, 3)])
    assert await wait_for(lambda: incidents(db_engine, later), bool, timeout_s=60)
    service.assert_running()


async def test_terminated_backend_mid_checkpoint_is_retried_and_stores_once(
    service: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"kill-{unique}"
    service.start()
    async with db_engine.connect() as locker:
        # Inserts into `signals` wait behind this lock, so the checkpoint is caught mid-way.
        await locker.execute(text("LOCK TABLE signals IN SHARE MODE"))
        locker_pid = (await locker.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await produce(producer, service.settings.topic_scored, [recall(brand, 1)])

        async def blocked() -> list[int]:
            async with db_engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE :locker = ANY(pg_blocking_pids(pid))"
                    ),
                    {"locker": locker_pid},
                )
                return [int(r.pid) for r in rows]

        waiting = await wait_for(blocked, bool, timeout_s=60)
        assert len(waiting) == 1, "the checkpoint never waited on the lock"
        async with db_engine.connect() as conn:
            killed = await conn.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting[0]}
            )
            assert killed.scalar_one() is True
        await wait_for(lambda: _value(db_errors(service, "transient")), bool, timeout_s=30)
        await locker.rollback()  # release the lock: the retried checkpoint goes through

    found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=60)
    service.assert_running()
    assert len(found) == 1
    assert len(await signals(db_engine, brand)) == 1
    assert db_errors(service, "transient") >= 1
    assert db_errors(service, "data") == 0 and db_errors(service, "fatal") == 0


async def test_fatal_error_stops_the_service_with_a_clear_error(
    service: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"fatal-{unique}"
    function, trigger = f"refuse_{unique}", f"refuse_{unique}"
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'permission denied for table signals' "
                "USING ERRCODE = '42501'; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER {trigger} BEFORE INSERT ON signals FOR EACH ROW "
                f"WHEN (NEW.brand = '{brand}') EXECUTE FUNCTION {function}()"
            )
        )
    try:
        service.start()
        await produce(producer, service.settings.topic_scored, [recall(brand, 1)])
        assert service.task is not None
        done, _ = await asyncio.wait({service.task}, timeout=90)
        assert done, "the service kept running after a fatal database error"
        with pytest.raises(FatalDatabaseError) as stopped:
            service.task.result()
        message = str(stopped.value)
        assert "alerting checkpoint" in message and "42501" in message
        assert "InsufficientPrivilegeError" in message and "stopping" in message
        assert db_errors(service, "fatal") == 1
        assert await incidents(db_engine, brand) == []
    finally:
        async with db_engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger} ON signals"))
            await conn.execute(text(f"DROP FUNCTION IF EXISTS {function}()"))


async def _value(value: float) -> float:
    return value
