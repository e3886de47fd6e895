"""Scored-mention streams for detection tests: hours of calm, then a crisis, on real Kafka.

`publish` stores rollups the way the sentiment service does and produces the scored mentions
in time order, so the alerting service replays hours of history in seconds. Used by
tests/integration/alerting and tests/faults.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.season import POPULATION_DAY_SHAPE
from services.alerting.service import serve as serve_alerting
from services.sentiment.store import store_scored
from shared import serde
from shared.db.engine import transaction
from shared.db.models import DetectorStateRow, IncidentRow, PartitionOwnerRow, RollupRow
from shared.kafka import EventProducer
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
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


def floor_minute(ts: datetime) -> datetime:
    """`ts` without its seconds."""
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
    target = floor_minute(ts).timestamp() + 60

    def done(state: dict[str, Any]) -> bool:
        return bool(state) and (state.get("last_ts") or 0) >= target

    state = await wait_for(lambda: spike_state(engine, brand), done, timeout_s=120)
    assert done(state), f"bins up to {ts} not processed: {state.get('last_ts')}"
    return state


@dataclass
class RunningAlerting:
    """An alerting service running in this event loop, with its own metrics registry; it
    can be stopped and restarted."""

    settings: AlertingSettings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start (or restart) the service with a fresh registry."""
        self.registry = CollectorRegistry()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve_alerting(
                self.settings, self.stop, registry=self.registry, notify_settings=NotifySettings()
            )
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

    def assert_running(self) -> None:
        """Fail with the service's own error if it stopped."""
        assert self.task is not None
        if self.task.done():
            self.task.result()
            raise AssertionError("the alerting service returned early")


async def partition_owners(engine: AsyncEngine, topic: str) -> dict[int, tuple[str, int]]:
    """partition -> (owner, epoch) of `topic`, as `partition_owners` holds them."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                PartitionOwnerRow.partition, PartitionOwnerRow.owner, PartitionOwnerRow.epoch
            ).where(PartitionOwnerRow.topic == topic)
        )
        return {int(p): (str(o), int(e)) for p, o, e in rows.all()}


async def store_calm_rollups(
    engine: AsyncEngine, brand: str, start: datetime, end: datetime, rate: float
) -> None:
    """Store calm per-minute rollups of `brand` in [start, end), as the sentiment service
    would: `rate` mentions a minute on an average hour of the population's day, seeded, so
    that what a test judges does not depend on the hour it runs at."""
    rng = random.Random(3)
    rows = []
    minute = start
    while minute < end:
        mean = rate * POPULATION_DAY_SHAPE[minute.hour]
        volume = max(0, round(rng.gauss(mean, mean**0.5)))
        negative = sum(rng.random() < 0.15 for _ in range(volume))
        rows.append(
            {
                "brand": brand,
                "minute": minute,
                "topic": "",
                "platform": "x",
                "language": "en",
                "volume": volume,
                "negative": negative,
                "neutral": volume - negative,
                "distinct_authors": volume,
            }
        )
        minute += timedelta(minutes=1)
    async with transaction(engine) as session:
        await session.execute(insert(RollupRow), rows)


def day_shaped_mentions(
    stream: Stream,
    live: datetime,
    minutes: int,
    rate_at: Callable[[int], float],
    *,
    quiet: bool = False,
) -> list[ScoredMention]:
    """Mentions of `stream` from `live` on: `rate_at(minute)` a minute on an average hour of
    the population's day (Poisson-like, seeded), negative at the usual 15%. `quiet`: nobody
    engages, so no engagement signal fires."""
    rng = random.Random(5)
    out = []
    for minute in range(minutes):
        at = live + timedelta(minutes=minute)
        rate = rate_at(minute) * POPULATION_DAY_SHAPE[at.hour]
        for _ in range(max(0, round(rng.gauss(rate, rate**0.5)))):
            second = timedelta(seconds=rng.uniform(0, 59.9))
            scored = stream.mention(at + second, negative=rng.random() < 0.15)
            if quiet:
                silent = scored.mention.model_copy(update={"engagement": Engagement()})
                scored = scored.model_copy(update={"mention": silent})
            out.append(scored)
    return out
