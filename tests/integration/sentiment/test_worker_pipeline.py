"""The sentiment worker with two batches enriching at once keeps poll order and loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from services.sentiment.core.enrich import Enricher
from services.sentiment.metrics import SentimentMetrics
from services.sentiment.service import build_worker, running
from services.sentiment.stage import EnrichedBatch, ThreadStage
from shared import serde
from shared.schemas import ScoredMention
from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import assert_exactly_once, mentions, produce, stored_counts
from tests.kafka_helpers import read_topic, wait_for

TOTAL = 1200
BATCH = 100


class _UnevenStage:
    """A thread stage that lets two batches run at once; every odd batch is slower."""

    concurrent_batches = 2

    def __init__(self, enricher: Enricher) -> None:
        self._inner = ThreadStage(enricher)
        self.calls = 0
        self.overlapped = 0
        self._running = 0

    async def enrich(
        self, values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
    ) -> EnrichedBatch:
        self.calls += 1
        slow = self.calls % 2 == 1
        self._running += 1
        try:
            if self._running > 1:
                self.overlapped += 1
            if slow:
                # Let the next batch start (and finish) before this one returns.
                await asyncio.sleep(0.2)
            return await self._inner.enrich(values, alert_brands)
        finally:
            self._running -= 1

    async def close(self) -> None:
        await self._inner.close()


async def test_concurrent_enrichment_keeps_order_and_exactly_once(
    settings_factory: Any, db_engine: Any, unique: str
) -> None:
    brand = f"order-{unique}"
    settings: SentimentSettings = settings_factory(SentimentSettings, sentiment_batch_size=BATCH)
    items = mentions(brand, TOTAL)  # one brand: one partition, one order
    await produce(settings.bootstrap_servers, settings.topic_raw, items)

    enricher = Enricher.from_settings(SentimentSettings(sentiment_transformer_enabled=False))
    stage = _UnevenStage(enricher)
    worker = build_worker(settings, stage, SentimentMetrics(CollectorRegistry()))
    async with running(worker):
        counts = await wait_for(
            lambda: stored_counts(db_engine, brand), lambda c: c.rows >= TOTAL, timeout_s=120
        )
        scored = await read_topic(settings.bootstrap_servers, settings.topic_scored, expected=TOTAL)

    assert stage.overlapped > 0, "the backlog should have put two batches in flight"
    assert_exactly_once(counts, {m.external_id for m in items})
    published = [serde.decode(ScoredMention, r.value).mention.external_id for r in scored]
    assert published == [m.external_id for m in items]


async def test_brands_with_an_open_incident_go_to_the_transformer(
    settings_factory: Any, db_engine: Any, unique: str
) -> None:
    """The alert window is fed: the worker reads brands with an unresolved incident and the
    transformer re-scores all their mentions, while other brands keep the model tier."""
    from shared.db.models import IncidentRow

    hot, calm = f"hot-{unique}", f"calm-{unique}"
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_transformer_enabled=True,
        # Route nothing else: only the alert window sends mentions to the transformer.
        sentiment_route_confidence_below=None,
        sentiment_route_negative=False,
        sentiment_route_reach_at_least=None,
    )
    async with db_engine.begin() as conn:
        await conn.execute(
            IncidentRow.__table__.insert().values(brand=hot, rule="test", title="t", status="open")
        )
    items = [*mentions(hot, 20), *mentions(calm, 20)]
    await produce(settings.bootstrap_servers, settings.topic_raw, items)
    enricher = Enricher.from_settings(settings)
    worker = build_worker(settings, enricher, SentimentMetrics(CollectorRegistry()))
    async with running(worker):
        scored = await read_topic(settings.bootstrap_servers, settings.topic_scored, expected=40)
    by_brand: dict[str, set[str]] = {hot: set(), calm: set()}
    for record in scored:
        s = serde.decode(ScoredMention, record.value)
        assert s.sentiment is not None
        by_brand[s.mention.brands[0]].add(s.sentiment.scorer)
    assert all(name.startswith("transformer:") for name in by_brand[hot]), by_brand
    assert by_brand[calm] == {"model:use-m3"}, by_brand
