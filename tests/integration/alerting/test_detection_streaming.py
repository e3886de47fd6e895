"""Streaming detection on real Kafka and PostgreSQL: hours of calm, then a crisis, one incident.

Baselines are compressed: events with `created_at` spread over the past hours are produced
in order, so the alerting service replays hours of history in seconds. Rollups are
written with the sentiment service's own `store_scored`, as the sentiment service would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.sentiment.store import store_scored
from shared.db.config_models import CampaignRow
from shared.db.engine import transaction
from shared.db.models import DetectorStateRow, SignalRow
from shared.kafka import EventProducer
from shared.schemas import ScoredMention
from shared.settings.alerting import AlertingSettings
from tests.detection_helpers import (
    CALM_HOURS,
    MARKETS,
    PLATFORMS,
    RunningAlerting,
    Stream,
    floor_minute,
    incidents,
    processed_until,
    publish,
)
from tests.kafka_helpers import wait_for


@pytest.fixture
def alerting(settings_factory: Callable[..., Any]) -> Iterator[RunningAlerting]:
    """An alerting service on this test's topics, tuned for a fast test clock."""
    settings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_campaign_refresh_s=1.0,
    )
    service = RunningAlerting(settings)
    yield service
    if service.task is not None:
        service.stop.set()


async def test_recall_crisis_after_calm_hours_opens_one_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    crisis = stream.crisis(crisis_start, 19)
    alerting.start()
    try:
        await publish(db_engine, producer, alerting.settings.topic_scored, calm + crisis)
        found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=120)
        assert found, "the crisis opened no incident"
        await processed_until(db_engine, brand, crisis[-1].mention.created_at)
        found = await incidents(db_engine, brand)
        assert len(found) == 1
        incident = found[0]
        assert incident.status == "open"
        assert incident.category == "recall" and incident.topic == "recall"
        # recall (risk 3) + volume >= 10x (3) + >= 60% negative (2) + 3 markets and
        # 3 platforms (2): SEV1.
        assert incident.severity == "SEV1"
        assert set(incident.scope["markets"]) == set(MARKETS)
        assert set(incident.scope["platforms"]) == set(PLATFORMS)
        assert incident.reasons
        async with db_engine.connect() as conn:
            signals = (await conn.execute(select(SignalRow).where(SignalRow.brand == brand))).all()
        assert signals and {s.incident_id for s in signals} == {incident.id}
        rules = {s.rule for s in signals}
        assert "volume_spike" in rules
        assert incident.rule != "negative_burst"  # warm brand: a baseline-aware rule opened it
        # No signal before the crisis began: hours of calm did not page.
        assert min(s.at for s in signals) > crisis_start
        opened = alerting.metric(
            "crisiswatch_alerting_incidents_opened_total",
            {"rule": incident.rule, "severity": _first_severity(signals, incident.rule)},
        )
        assert opened == 1
        latency_sum = alerting.metric(
            "crisiswatch_alerting_latency_seconds_sum", {"rule": incident.rule}
        )
        latency_n = alerting.metric(
            "crisiswatch_alerting_latency_seconds_count", {"rule": incident.rule}
        )
        assert latency_n == 1
        print(f"alert latency {latency_sum:.2f}s (ingested -> incident stored)")
        assert latency_sum < 60
    finally:
        await alerting.shutdown()


def _first_severity(signals: Sequence[Any], rule: str) -> str:
    first = min((s for s in signals if s.rule == rule), key=lambda s: s.id)
    return str(first.details["severity"])


async def test_bot_flood_from_one_author_opens_no_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    flood_start = now - timedelta(minutes=20)
    calm = stream.calm(flood_start - timedelta(hours=CALM_HOURS), flood_start)
    flood = [
        stream.mention(
            flood_start + timedelta(seconds=1.5 * i),
            negative=True,
            topics=["product_quality"],
            author="a_bot",
            emotion="anger",
        )
        for i in range(19 * 40)
    ]
    alerting.start()
    try:
        await publish(db_engine, producer, alerting.settings.topic_scored, calm + flood)
        await processed_until(db_engine, brand, flood[-1].mention.created_at)
        assert alerting.metric("crisiswatch_alerting_gated_total", {"rule": "volume_spike"}) >= 1
        assert await incidents(db_engine, brand) == []
    finally:
        await alerting.shutdown()


async def test_registered_campaign_burst_opens_no_incident(
    alerting: RunningAlerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    launch = now - timedelta(minutes=20)
    async with transaction(db_engine) as session:
        session.add(
            CampaignRow(
                brand=brand,
                name="spring launch",
                starts_at=launch - timedelta(minutes=5),
                ends_at=now + timedelta(hours=2),
                expected_lift=12.0,
            )
        )
    calm = stream.calm(launch - timedelta(hours=CALM_HOURS), launch)
    burst = stream.calm(launch, now - timedelta(minutes=1), per_minute=30.0)
    alerting.start()
    try:
        await publish(db_engine, producer, alerting.settings.topic_scored, calm + burst)
        state = await processed_until(db_engine, brand, burst[-1].mention.created_at)
        # The detector saw the burst, divided by the campaign's lift (30/min / 12).
        assert max(state["window"][-10:]) < 6
        assert await incidents(db_engine, brand) == []
    finally:
        await alerting.shutdown()


async def test_restart_mid_crisis_keeps_one_incident_and_rebuilds_state(
    settings_factory: Callable[..., Any],
    producer: EventProducer,
    db_engine: AsyncEngine,
    unique: str,
) -> None:
    # Bins close on event time alone (no idle flush): every phase lies in the past and ends
    # with a mention past the lateness of its bins, so no phase waits for the wall clock.
    settings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=600.0,
        alerting_campaign_refresh_s=1.0,
    )
    alerting = RunningAlerting(settings)
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = floor_minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=20)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    first = stream.crisis(crisis_start, 13)
    topic = alerting.settings.topic_scored

    def angry(at: datetime) -> list[ScoredMention]:
        """60 angry recall mentions at `at`, then one calm mention that closes their bin."""
        burst = [
            stream.mention(
                at,
                negative=True,
                topics=["recall"],
                emotion="anger",
                market=MARKETS[i % 3],
                platform=PLATFORMS[i % 3],
            )
            for i in range(60)
        ]
        closing = at + timedelta(
            seconds=settings.alerting_bin_seconds + settings.alerting_lateness_s + 5
        )
        return [*burst, stream.mention(closing, negative=False)]

    alerting.start()
    try:
        await publish(db_engine, producer, topic, calm + first)
        found = await wait_for(lambda: incidents(db_engine, brand), bool, timeout_s=120)
        assert len(found) == 1
        await alerting.shutdown()

        # Restart without any stored state: detectors are rebuilt from the rollups.
        async with transaction(db_engine) as session:
            await session.execute(
                delete(DetectorStateRow).where(DetectorStateRow.key.startswith(f"{brand}|"))
            )
        alerting.start()
        later = now - timedelta(minutes=6)
        await publish(db_engine, producer, topic, angry(later))
        state = await processed_until(db_engine, brand, later)
        assert state["short"]["n"] >= CALM_HOURS * 60, "history was not rebuilt from rollups"

        # Restart again, now restoring the stored state (with the open bin of the closing one).
        await alerting.shutdown()
        alerting.start()
        again = now - timedelta(minutes=3)
        await publish(db_engine, producer, topic, angry(again))
        await processed_until(db_engine, brand, again)
        found = await incidents(db_engine, brand)
        assert len(found) == 1, "the restart opened a duplicate incident"
        assert found[0].category == "recall"
    finally:
        await alerting.shutdown()


async def test_backtest_replays_rollups_and_reports_the_crisis(
    settings_factory: Callable[..., Any], db_engine: AsyncEngine, unique: str
) -> None:
    import io
    import json

    from tools.eval.backtest import run_backtest

    brand = f"brand-{unique}"
    stream = Stream(brand)
    crisis_start = floor_minute(datetime.now(UTC)) - timedelta(minutes=30)
    calm_start = crisis_start - timedelta(hours=CALM_HOURS)
    items = stream.calm(calm_start, crisis_start) + stream.crisis(crisis_start, 20)
    async with transaction(db_engine) as session:
        for start in range(0, len(items), 500):
            await store_scored(session, items[start : start + 500])
    out = io.StringIO()
    told: list[str] = []
    summary = await run_backtest(
        settings_factory(AlertingSettings),
        brand=brand,
        start=calm_start + timedelta(hours=1),
        end=crisis_start + timedelta(minutes=25),
        preset="balanced",
        warmup_hours=1,
        out=out,
        progress=told.append,
    )
    assert told[0].startswith(f"backtest: loading the rollups of {brand}")
    assert told[1].startswith("backtest: replaying")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    alerts = [line for line in lines if not line.get("summary")]
    assert summary["alerts"] == len(alerts) >= 1
    assert all(datetime.fromisoformat(a["at"]) > crisis_start for a in alerts)
    assert "recall" in {a["category"] for a in alerts}
    assert sum(summary["per_week"].values()) == summary["alerts"]
