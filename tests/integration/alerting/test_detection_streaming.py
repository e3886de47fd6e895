"""Streaming detection on real Kafka and PostgreSQL: hours of calm, then a crisis, one incident.

Baselines are compressed: events with `created_at` spread over the past hours are produced
in order, so the alerting service replays hours of history in seconds. Rollups are
written with the sentiment service's own `store_scored`, as the sentiment service would.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.service import serve as serve_alerting
from services.sentiment.store import store_scored
from shared import serde
from shared.db.engine import transaction
from shared.db.models import CampaignRow, DetectorStateRow, IncidentRow, SignalRow
from shared.kafka import EventProducer
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore
from shared.settings.alerting import AlertingSettings
from tests.kafka_helpers import wait_for

CALM_HOURS = 8
MARKETS = ("US", "GB", "DE")
PLATFORMS = ("x", "reddit", "tiktok")


@dataclass
class Stream:
    """Builds the scored mentions of one brand, with unique ids."""

    brand: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    n: int = 0

    def mention(
        self,
        at: datetime,
        *,
        negative: bool,
        topics: Sequence[str] = (),
        author: str | None = None,
        emotion: str | None = None,
        market: str = "US",
        platform: str = "x",
        language: str = "en",
    ) -> ScoredMention:
        """Return one scored mention created at `at`."""
        self.n += 1
        label = "negative" if negative else self.rng.choice(["neutral", "positive"])
        score = -0.8 if negative else (0.6 if label == "positive" else 0.0)
        return ScoredMention(
            mention=Mention(
                platform=platform,
                external_id=f"{self.brand}-{self.n}",
                author_id=author or f"a_{self.rng.randrange(10**9)}",
                author_reach=self.rng.randrange(50, 3000),
                text="recall now" if "recall" in topics else "some text",
                created_at=at,
                engagement=Engagement(likes=self.rng.randrange(3), shares=self.rng.randrange(2)),
                brands=[self.brand],
                source={"market": market},
            ),
            language=language,
            language_confidence=0.99,
            sentiment=SentimentScore(label=label, score=score, confidence=0.9, scorer="test"),
            emotions={emotion: 0.9} if emotion else {},
            emotion=emotion,
            topics=list(topics),
        )

    def calm(self, start: datetime, end: datetime, per_minute: float = 3.0) -> list[ScoredMention]:
        """Return calm chatter between `start` and `end` (15% negative)."""
        out = []
        minute = start
        while minute < end:
            for _ in range(_poisson(self.rng, per_minute)):
                at = minute + timedelta(seconds=self.rng.uniform(0, 59.9))
                topics = ["delivery"] if self.rng.random() < 0.05 else []
                out.append(self.mention(at, negative=self.rng.random() < 0.15, topics=topics))
            minute += timedelta(minutes=1)
        return out

    def crisis(self, start: datetime, minutes: int, *, first_rate: int = 4) -> list[ScoredMention]:
        """Return a growing recall crisis: mostly negative, angry, in 3 markets and platforms."""
        out = []
        for k in range(minutes):
            minute = start + timedelta(minutes=k)
            for i in range(first_rate + 3 * k):
                at = minute + timedelta(seconds=self.rng.uniform(0, 59.9))
                negative = self.rng.random() < 0.85
                out.append(
                    self.mention(
                        at,
                        negative=negative,
                        topics=["recall"] if self.rng.random() < 0.8 else [],
                        emotion="anger" if negative else None,
                        market=MARKETS[i % 3],
                        platform=PLATFORMS[i % 3],
                        language="de" if i % 3 == 2 else "en",
                    )
                )
        return out


def _poisson(rng: random.Random, lam: float) -> int:
    return max(0, round(rng.gauss(lam, lam**0.5)))


def _minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


async def publish(
    engine: AsyncEngine, producer: EventProducer, topic: str, items: Sequence[ScoredMention]
) -> None:
    """Store rollups (as sentiment does) and produce the scored mentions in time order."""
    ordered = sorted(items, key=lambda s: s.mention.created_at)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        async with transaction(engine) as session:
            await store_scored(session, chunk)
        await producer.send_many(
            topic, [(s.mention.key, serde.dumps(s.model_dump(mode="json"))) for s in chunk]
        )


@dataclass
class Alerting:
    """A running alerting service that can be stopped and restarted."""

    settings: AlertingSettings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start (or restart) the service with a fresh registry."""
        self.registry = CollectorRegistry()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve_alerting(self.settings, self.stop, registry=self.registry)
        )

    async def shutdown(self) -> None:
        """Stop the service and wait for its final checkpoint."""
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=60)
            self.task = None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Return a sample value from the service's registry (0 when absent)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
async def producer(infra: Any) -> AsyncIterator[EventProducer]:
    """A started producer."""
    prod = EventProducer(infra.bootstrap_servers)
    await prod.start()
    yield prod
    await prod.stop()


@pytest.fixture
def alerting(settings_factory: Callable[..., Any]) -> Iterator[Alerting]:
    """An alerting service on this test's topics, tuned for a fast test clock."""
    settings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_campaign_refresh_s=1.0,
    )
    service = Alerting(settings)
    yield service
    if service.task is not None:
        service.stop.set()


async def incidents(engine: AsyncEngine, brand: str) -> list[Any]:
    """Every incident of `brand` (rows with the table's columns)."""
    async with engine.connect() as conn:
        q = select(IncidentRow).where(IncidentRow.brand == brand)
        return list((await conn.execute(q)).all())


async def spike_state(engine: AsyncEngine, brand: str) -> dict[str, Any]:
    """The stored state of the brand-level volume detector ({} until saved)."""
    async with engine.connect() as conn:
        key = f"{brand}||volume_spike"
        row = (
            await conn.execute(select(DetectorStateRow.state).where(DetectorStateRow.key == key))
        ).scalar_one_or_none()
    return row or {}


async def processed_until(engine: AsyncEngine, brand: str, ts: datetime) -> dict[str, Any]:
    """Wait until the brand's bins up to `ts` went through the detectors; return the state."""
    target = _minute(ts).timestamp() + 60

    def done(state: dict[str, Any]) -> bool:
        return bool(state) and (state.get("last_ts") or 0) >= target

    state = await wait_for(lambda: spike_state(engine, brand), done, timeout_s=120)
    assert done(state), f"bins up to {ts} not processed: {state.get('last_ts')}"
    return state


async def test_recall_crisis_after_calm_hours_opens_one_incident(
    alerting: Alerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = _minute(datetime.now(UTC))
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
    alerting: Alerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = _minute(datetime.now(UTC))
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
    alerting: Alerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = _minute(datetime.now(UTC))
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
    alerting: Alerting, producer: EventProducer, db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"brand-{unique}"
    stream = Stream(brand)
    now = _minute(datetime.now(UTC))
    crisis_start = now - timedelta(minutes=14)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    first = stream.crisis(crisis_start, 13)
    topic = alerting.settings.topic_scored
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
        later = datetime.now(UTC)
        second = [
            stream.mention(
                later,
                negative=True,
                topics=["recall"],
                emotion="anger",
                market=MARKETS[i % 3],
                platform=PLATFORMS[i % 3],
            )
            for i in range(60)
        ]
        await publish(db_engine, producer, topic, second)
        state = await processed_until(db_engine, brand, later)
        assert state["short"]["n"] >= CALM_HOURS * 60, "history was not rebuilt from rollups"

        # Restart again, now restoring the stored state.
        await alerting.shutdown()
        alerting.start()
        again = datetime.now(UTC)
        third = [
            stream.mention(again, negative=True, topics=["recall"], emotion="anger")
            for _ in range(60)
        ]
        await publish(db_engine, producer, topic, third)
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
    crisis_start = _minute(datetime.now(UTC)) - timedelta(minutes=30)
    calm_start = crisis_start - timedelta(hours=CALM_HOURS)
    items = stream.calm(calm_start, crisis_start) + stream.crisis(crisis_start, 20)
    async with transaction(db_engine) as session:
        for start in range(0, len(items), 500):
            await store_scored(session, items[start : start + 500])
    out = io.StringIO()
    summary = await run_backtest(
        settings_factory(AlertingSettings),
        brand=brand,
        start=calm_start + timedelta(hours=1),
        end=crisis_start + timedelta(minutes=25),
        preset="balanced",
        warmup_hours=1,
        out=out,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    alerts = [line for line in lines if not line.get("summary")]
    assert summary["alerts"] == len(alerts) >= 1
    assert all(datetime.fromisoformat(a["at"]) > crisis_start for a in alerts)
    assert "recall" in {a["category"] for a in alerts}
    assert sum(summary["per_week"].values()) == summary["alerts"]
