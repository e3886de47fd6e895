"""Alert latency: the mention that tips the negative-burst rule -> Slack and SMTP accepted it.

The alerting service runs in-process with its real outbox dispatcher and notifiers, pointed
at the product's local Slack-like receiver and aiosmtpd server (`tools.demo.receivers`).
Per repeat a fresh brand gets `burst_min_negative - 1` negative mentions from distinct
authors (stored as the sentiment worker would, then produced to the scored topic); once the
service has had time to consume them, the tipping mention is produced and timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from services.alerting.service import serve as serve_alerting
from services.sentiment.store import store_scored
from shared import serde
from shared.db.engine import create_engine, transaction
from shared.kafka import EventProducer
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import SEVERITIES, NotifySettings
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure, percentile
from tools.demo.receivers import Inbox, Received, SlackWebhookReceiver, SmtpReceiver

TARGET_S = 2.0
CHANNELS = ("slack", "email")
OUTBOX_POLL_S = 0.1
SETTLE_S = 1.0  # time given to the service to consume the mentions before the tipping one


def negative_mention(brand: str, n: int, *, author: str) -> ScoredMention:
    """One negative scored mention of `brand`, created and ingested now."""
    now = datetime.now(UTC)
    return ScoredMention(
        mention=Mention(
            platform="x",
            external_id=f"{brand}-{n}",
            author_id=author,
            author_reach=500,
            text=f"The {brand} charger caught fire, this is dangerous and awful",
            created_at=now,
            ingested_at=now,
            engagement=Engagement(likes=3, shares=1),
            brands=[brand],
        ),
        language="en",
        language_confidence=0.99,
        sentiment=SentimentScore(label="negative", score=-0.8, confidence=0.9, scorer="bench"),
        emotions={"anger": 0.9},
        emotion="anger",
    )


class Arrivals:
    """Monotonic arrival time of the first notification per (channel, brand)."""

    def __init__(self) -> None:
        self.brands: set[str] = set()
        self.first: dict[tuple[str, str], float] = {}
        self.changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __call__(self, item: Received) -> None:
        """Receiver callback (runs on the receivers' threads)."""
        for brand in self.brands:
            if brand in item.summary:
                self.first.setdefault((item.channel, brand), item.at)
        self._loop.call_soon_threadsafe(self.changed.set)

    async def wait(self, brand: str, timeout_s: float) -> dict[str, float]:
        """Wait until every channel got `brand`'s notification; return their arrival times."""
        deadline = time.monotonic() + timeout_s
        while not all((c, brand) in self.first for c in CHANNELS):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = [c for c in CHANNELS if (c, brand) not in self.first]
                raise TimeoutError(f"no {missing} notification for {brand} in {timeout_s:.0f} s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(remaining, 0.5))
        return {c: self.first[(c, brand)] for c in CHANNELS}


@dataclass
class AlertRig:
    """A running alerting service with local receivers and a producer on its topic."""

    env: BenchEnv
    settings: AlertingSettings
    producer: EventProducer
    arrivals: Arrivals
    registry: CollectorRegistry

    async def crisis(self, brand: str) -> dict[str, float]:
        """Tip the burst rule for `brand`; return seconds to each channel's receiver."""
        n = self.settings.burst_min_negative
        authors = max(self.settings.burst_min_authors, 1)
        self.arrivals.brands.add(brand)
        before = [negative_mention(brand, i, author=f"a_{brand}_{i % authors}") for i in range(n)]
        engine = create_engine(self.env.base, database=self.env.database)
        try:
            async with transaction(engine) as session:
                await store_scored(session, before)  # as the sentiment worker would
        finally:
            await engine.dispose()
        await self._produce(before[:-1])
        await asyncio.sleep(SETTLE_S)
        if any((c, brand) in self.arrivals.first for c in CHANNELS):
            raise RuntimeError(f"{brand}: the rule fired before the tipping mention")
        tipping = negative_mention(brand, n - 1, author=f"a_{brand}_{(n - 1) % authors}")
        produced = time.monotonic()
        await self._produce([tipping])
        arrived = await self.arrivals.wait(brand, timeout_s=60)
        return {c: max(0.0, t - produced) for c, t in arrived.items()}

    async def _produce(self, items: list[ScoredMention]) -> None:
        topic = self.settings.topic_scored
        await self.producer.send_many(topic, [(s.mention.key, serde.dumps(s)) for s in items])

    def incident_latency(self) -> tuple[float, int]:
        """Sum and count of the service's tipping-mention -> incident stored histogram."""
        labels = {"rule": "negative_burst"}
        total = self.registry.get_sample_value("crisiswatch_alerting_latency_seconds_sum", labels)
        count = self.registry.get_sample_value("crisiswatch_alerting_latency_seconds_count", labels)
        return total or 0.0, int(count or 0)


@asynccontextmanager
async def alert_rig(env: BenchEnv) -> AsyncIterator[AlertRig]:
    """Receivers, the alerting service on fresh topics, and a producer; stopped after."""
    raw, scored, dlq = await env.new_topics("alerts-raw", "alerts-scored", "alerts-dlq")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection
    loop_arrivals = Arrivals()
    inbox = Inbox(on_receive=loop_arrivals)
    slack = SlackWebhookReceiver(inbox)
    smtp = SmtpReceiver(inbox)
    slack.start()
    smtp.start()
    notify = NotifySettings(
        slack_webhook_url=slack.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_implicit_tls=False,
        smtp_from="crisiswatch-bench@localhost",
        smtp_to=["oncall@localhost"],
        webhook_url=None,
        slack_bot_token=None,
        routes={sev: ["slack", "email"] for sev in SEVERITIES},
        outbox_poll_interval_s=OUTBOX_POLL_S,
        escalation_tiers=[],
    )
    settings = env.settings(
        AlertingSettings,
        topic_raw=raw,
        topic_scored=scored,
        topic_dlq=dlq,
        alerting_group_id=f"bench-alerts-{uuid.uuid4().hex[:6]}",
        alerting_metrics_port=0,
    )
    registry = CollectorRegistry()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_alerting(settings, stop, registry=registry, notify_settings=notify)
    )
    producer = EventProducer(env.bootstrap, client_id="bench-alerts")
    await producer.start()
    try:
        yield AlertRig(env, settings, producer, loop_arrivals, registry)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=30)
        await producer.stop()
        slack.stop()
        smtp.stop()
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise RuntimeError("the alerting service failed") from task.exception()


async def alert_figures(env: BenchEnv, *, repeats: int) -> list[Figure]:
    """p50/p95 of tipping mention -> Slack and SMTP accepted, over `repeats` fresh brands."""
    runs: dict[str, list[float]] = {c: [] for c in CHANNELS}
    async with alert_rig(env) as rig:
        run = uuid.uuid4().hex[:6]
        await rig.crisis(f"alertwarm{run}")  # warm-up: group join, connections, first queries
        warm_sum, warm_count = rig.incident_latency()
        for r in range(repeats):
            for channel, seconds in (await rig.crisis(f"alert{run}b{r}")).items():
                runs[channel].append(seconds)
        total, count = rig.incident_latency()
        min_negative = rig.settings.burst_min_negative
        min_authors = rig.settings.burst_min_authors
    stored = (total - warm_sum) / max(count - warm_count, 1)
    note = (
        f"{repeats} fresh brands (after one warm-up), each tipped by its "
        f"{min_negative}th negative mention from >= {min_authors} authors; produce of the "
        f"tipping mention -> receiver accepted; of it, ~{stored * 1000:.0f} ms (mean) to the "
        f"incident stored, the rest outbox (polled every {OUTBOX_POLL_S * 1000:.0f} ms) + "
        f"delivery; receivers are tools.demo.receivers on 127.0.0.1 (no TLS)"
    )
    figures = []
    label = {"slack": "Slack webhook", "email": "SMTP"}
    for channel in CHANNELS:
        for q in (50, 95):
            figures.append(
                Figure("alerts", f"tipping mention -> {label[channel]} p{q}",
                       percentile(runs[channel], q), "s", TARGET_S,
                       f"target {TARGET_S:.0f} s (ratio < 1 meets it)", note, runs[channel])
            )  # fmt: skip
    return figures
