"""Soak: steady offered load for CRISISWATCH_SOAK_MINUTES (default 10) with a crisis midway.

Two sentiment workers run as processes, alerting in this process. Checked: consumer lag stays
bounded, the incident opens within ALERT_TARGET_S of the crisis, and the workers' RSS does not
grow beyond RSS_GROWTH_MAX after warm-up. Run with `make soak` (pytest -m soak).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.alerting.service import serve as serve_alerting
from shared import serde
from shared.db.models import IncidentRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import (
    CALM_TEXTS,
    NEGATIVE_TEXTS,
    WorkerProcess,
    group_lag,
    mention,
    service_env,
)
from tests.notify_fakes import notify_settings

pytestmark = [pytest.mark.soak, pytest.mark.timeout(0)]  # runs for minutes by design

MINUTES = float(os.environ.get("CRISISWATCH_SOAK_MINUTES", "10"))
RATE_PER_S = int(os.environ.get("CRISISWATCH_SOAK_RATE", "50"))
ALERT_TARGET_S = 60.0
LAG_MAX = RATE_PER_S * 30  # never more than 30 s of offered load behind
RSS_GROWTH_MAX = 150 * 1024 * 1024
SAMPLE_S = 5.0


async def test_soak_steady_load_with_crisis(
    settings_factory: Any, db_engine: Any, unique: str, tmp_path: Path
) -> None:
    brand = f"soak-{unique}"
    sentiment: SentimentSettings = settings_factory(SentimentSettings, sentiment_batch_size=200)
    alerting: AlertingSettings = settings_factory(
        AlertingSettings, burst_min_negative=20, burst_min_authors=5, alerting_checkpoint_s=1.0
    )
    workers = [WorkerProcess(service_env(sentiment), tmp_path / f"worker{i}.log") for i in range(2)]
    for w in workers:
        w.start()
    stop = asyncio.Event()
    alert_task = asyncio.create_task(
        serve_alerting(
            alerting, stop, registry=CollectorRegistry(), notify_settings=notify_settings()
        )
    )
    producer = EventProducer(sentiment.bootstrap_servers)
    await producer.start()
    duration = MINUTES * 60
    lags: list[int] = []
    rss: list[list[int]] = [[] for _ in workers]
    crisis_at: float | None = None
    alert_after: float | None = None
    sent = 0
    try:
        start = time.monotonic()
        next_sample = start
        tick = 0
        while (elapsed := time.monotonic() - start) < duration:
            batch = [
                mention(brand, f"{brand}-calm-{sent + i}", text=CALM_TEXTS[(sent + i) % 3])
                for i in range(RATE_PER_S // 10)
            ]
            if crisis_at is None and elapsed >= duration / 2:
                crisis_at = time.monotonic()
                batch += [
                    mention(
                        brand,
                        f"{brand}-crisis-{i}",
                        text=NEGATIVE_TEXTS[i % 3],
                        author=f"a_angry{i % 20}",
                    )
                    for i in range(60)
                ]
            await producer.send_many(sentiment.topic_raw, [(m.key, serde.dumps(m)) for m in batch])
            sent += len(batch)
            if crisis_at is not None and alert_after is None and await _incident(db_engine, brand):
                alert_after = time.monotonic() - crisis_at
            if time.monotonic() >= next_sample:
                next_sample += SAMPLE_S
                assert all(w.alive() for w in workers), [w.log()[-2000:] for w in workers]
                assert not alert_task.done(), alert_task
                lags.append(
                    await group_lag(
                        sentiment.bootstrap_servers,
                        sentiment.sentiment_group_id,
                        sentiment.topic_raw,
                        3,
                    )
                )
                for i, w in enumerate(workers):
                    rss[i].append(w.rss_bytes())
            tick += 1
            delay = start + tick * 0.1 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing of the offered load
        deadline = time.monotonic() + ALERT_TARGET_S
        while alert_after is None and time.monotonic() < deadline:
            if await _incident(db_engine, brand):
                assert crisis_at is not None
                alert_after = time.monotonic() - crisis_at
            await asyncio.sleep(0.5)
    finally:
        await producer.stop()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(alert_task, timeout=30)
        for w in workers:
            w.stop()
    warm = max(1, len(lags) // 4)
    growth = [r[-1] - r[warm] for r in rss if len(r) > warm]
    print(
        f"\nSOAK minutes={MINUTES} rate={RATE_PER_S}/s sent={sent} samples={len(lags)} "
        f"max_lag={max(lags)} final_lag={lags[-1]} alert_after_s={alert_after} "
        f"rss_mb_start={[round(r[warm] / 2**20) for r in rss]} "
        f"rss_mb_end={[round(r[-1] / 2**20) for r in rss]} "
        f"rss_growth_mb={[round(g / 2**20, 1) for g in growth]}"
    )
    assert max(lags) <= LAG_MAX, f"lag reached {max(lags)} (bound {LAG_MAX})"
    assert alert_after is not None and alert_after <= ALERT_TARGET_S, alert_after
    assert all(g <= RSS_GROWTH_MAX for g in growth), growth


async def _incident(engine: Any, brand: str) -> bool:
    async with engine.connect() as conn:
        q = select(IncidentRow.id).where(IncidentRow.brand == brand)
        return (await conn.execute(q)).first() is not None
