"""Scoring benchmarks: the sentiment worker end to end against its two ceilings.

- worker: consume `mentions.raw`, enrich, upsert into PostgreSQL, produce, commit.
- ceiling 1: the bare enricher loop over the same mentions (no Kafka, no database).
- ceiling 2: raw consume + produce of the same records (no enrichment, no database).
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from services.sentiment.core.enrich import Enricher
from services.sentiment.metrics import SentimentMetrics
from services.sentiment.service import build_stage, build_worker, running
from services.sentiment.stage import EnrichStage
from shared import serde
from shared.heap import freeze_startup_objects
from shared.kafka import EventConsumer, EventProducer
from shared.schemas import Mention
from shared.settings.sentiment import SentimentSettings
from tools.bench.data import generate_mentions
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure

if TYPE_CHECKING:
    from services.sentiment.core.prepared import PreparedMention


async def _fill(bootstrap: str, topic: str, mentions: list[Mention]) -> None:
    producer = EventProducer(bootstrap, client_id="bench-fill", send_timeout_s=120)
    await producer.start()
    try:
        for i in range(0, len(mentions), 5000):
            chunk = mentions[i : i + 5000]
            await producer.send_many(topic, ((m.key, serde.dumps(m)) for m in chunk))
    finally:
        await producer.stop()


class _Progress:
    """Timestamps of processed batches, to measure steady-state rate after the group join."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.done = 0
        self.first: tuple[float, int] | None = None
        self.last = 0.0
        self.finished = asyncio.Event()

    def __call__(self, count: int) -> None:
        now = time.perf_counter()
        self.done += count
        if self.first is None:
            self.first = (now, count)
        self.last = now
        if self.done >= self.target:
            self.finished.set()

    def rate(self) -> float:
        """Records/s between the first and the last batch (the first batch excluded)."""
        if self.first is None or self.last <= self.first[0]:
            return 0.0
        return (self.done - self.first[1]) / (self.last - self.first[0])


async def worker_rate(
    env: BenchEnv, enricher: Enricher | EnrichStage, mentions: list[Mention]
) -> float:
    """Mentions/s of one sentiment worker end to end (consume, enrich, upsert, produce)."""
    raw, scored, dlq = await env.new_topics("raw", "scored", "dlq")
    await _fill(env.bootstrap, raw, mentions)
    settings = env.settings(
        SentimentSettings,
        topic_raw=raw,
        topic_scored=scored,
        topic_dlq=dlq,
        sentiment_group_id=f"bench-{uuid.uuid4().hex[:6]}",
        sentiment_metrics_port=0,
    )
    # The rate is read between the first and the last batch, so the run needs several: a
    # slow path (the transformer) otherwise takes a quick run's mentions in one batch.
    settings = settings.model_copy(
        update={
            "sentiment_batch_size": min(settings.sentiment_batch_size, max(50, len(mentions) // 4))
        }
    )
    progress = _Progress(len(mentions))
    worker = build_worker(
        settings, enricher, SentimentMetrics(CollectorRegistry()), on_batch=progress
    )
    async with running(worker):
        await asyncio.wait_for(progress.finished.wait(), timeout=600)
    return progress.rate()


def bare_enricher_rate(enricher: Enricher, mentions: list[Mention], batch: int = 500) -> float:
    """Mentions/s of the enricher alone on the same mentions."""
    started = time.perf_counter()
    for i in range(0, len(mentions), batch):
        enricher.enrich_batch(mentions[i : i + batch])
    return len(mentions) / (time.perf_counter() - started)


async def consume_produce_rate(env: BenchEnv, mentions: list[Mention]) -> float:
    """Records/s of a bare consume + produce + commit loop over the same records."""
    raw, out = await env.new_topics("cp-in", "cp-out")
    await _fill(env.bootstrap, raw, mentions)
    producer = EventProducer(env.bootstrap, client_id="bench-cp")
    consumer = EventConsumer(env.bootstrap, [raw], group_id=f"bench-cp-{uuid.uuid4().hex[:6]}")
    progress = _Progress(len(mentions))
    await producer.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + 600
        while progress.done < len(mentions) and time.monotonic() < deadline:
            records = await consumer.poll(timeout_ms=500, max_records=500)
            if not records:
                continue
            await producer.send_many(out, ((r.key, r.value) for r in records))
            await consumer.commit(records)
            progress(len(records))
    finally:
        await consumer.stop()
        await producer.stop()
    return progress.rate()


async def scoring_figures(
    env: BenchEnv,
    *,
    n: int,
    repeats: int,
    settings: SentimentSettings,
    path: str,
    languages: Collection[str] | None = None,
) -> list[Figure]:
    """Worker rate (as configured by `settings`) with both ceilings, median of `repeats`.

    `languages` limits the generated mentions to those languages (default: the whole mix).
    """
    import statistics

    mentions_runs = [
        generate_mentions(n, prefix=f"{path}-{env.run_id}-{r}", languages=languages)
        for r in range(repeats)
    ]
    stage = await build_stage(settings, None)
    # A worker process holds no such data set: keep it out of the collector's passes, as
    # the service keeps its start-up heap (services/sentiment/service.py).
    freeze_startup_objects()
    try:
        await stage.enrich([serde.dumps(m) for m in mentions_runs[0][: min(500, n)]])  # warm-up
        worker = [await worker_rate(env, stage, m) for m in mentions_runs]
    finally:
        gc.unfreeze()
        await stage.close()
    enricher = await asyncio.to_thread(Enricher.from_settings, settings)
    bare_enricher_rate(enricher, mentions_runs[0][: min(500, n)])  # warm-up
    bare = [bare_enricher_rate(enricher, m) for m in mentions_runs]
    raw = [await consume_produce_rate(env, m) for m in mentions_runs]
    w, b, r = statistics.median(worker), statistics.median(bare), statistics.median(raw)
    processes = settings.sentiment_enrich_processes
    where = f"{processes} enrichment process(es)" if processes else "enrichment in a thread"
    mix = (
        "English only"
        if languages == ("en",)
        else (f"languages {', '.join(languages)}" if languages else "multilingual mix")
    )
    note = f"{n} mentions per run ({mix}), median of {repeats}; one worker, {where}"
    return [
        Figure(
            f"scoring/{path}",
            "worker mentions/s vs bare scorer",
            w,
            "mentions/s",
            b,
            "bare enricher loop",
            note,
            worker,
        ),
        Figure(
            f"scoring/{path}",
            "worker mentions/s vs raw consume+produce",
            w,
            "mentions/s",
            r,
            "aiokafka consume+produce+commit",
            note,
            raw,
        ),
    ]


def encoder_figure(*, n: int, repeats: int, worker_rate: float) -> Figure:
    """The worker's rate against the bare encoder: USE alone, one thread, same texts.

    The worker runs two enrichment processes; the ceiling is twice the single-thread encoder
    rate, what two cores could do with nothing but encoding.
    """
    import statistics

    from services.sentiment.encoders.use import UniversalSentenceEncoder

    encoder = UniversalSentenceEncoder(threads=1)
    encoder.load()
    runs = []
    for r in range(repeats):
        texts = [m.text for m in generate_mentions(n, prefix=f"encoder-{r}")]
        started = time.perf_counter()
        for i in range(0, len(texts), 500):
            encoder.encode(texts[i : i + 500])
        runs.append(len(texts) / (time.perf_counter() - started))
    single = statistics.median(runs)
    return Figure(
        "scoring/model",
        "worker mentions/s vs bare encoder on 2 cores",
        worker_rate,
        "mentions/s",
        2 * single,
        "USE v3 encode() alone, 1 thread, x2",
        f"{n} mentions of the multilingual mix; bare single-thread encoder {single:,.0f}/s",
        runs,
    )


def story_figures(*, n: int, repeats: int, worker_rate: float) -> list[Figure]:
    """What story assignment costs the worker: its share of the worker's time per mention;
    and what saving a brand's clustering state costs (`story_states`, every 120 s).

    The assigner runs in the worker process after enrichment, one mention at a time; the
    bare loop times it alone on mentions enriched beforehand (vectors included). The share
    is the worker's rate over the loop's rate (the worker's own rate already includes it).
    After each loop every brand's state is dumped (as a save does) and restored.
    """
    import statistics

    from services.sentiment.core.prepared import prepare
    from services.sentiment.core.stories import StoryClusterer
    from services.sentiment.core.story_snapshot import load_state
    from services.sentiment.stories import StoryAssigner

    settings = SentimentSettings(sentiment_transformer_enabled=False)
    enricher = Enricher.from_settings(settings)
    runs, saves, loads, sizes, urgent = [], [], [], [], []
    for r in range(repeats):
        mentions = generate_mentions(n, prefix=f"stories-{r}")
        prepared: list[PreparedMention] = []
        for i in range(0, len(mentions), 500):
            scored, vectors = enricher.enrich_with_vectors(mentions[i : i + 500])
            prepared.extend(prepare(s, v) for s, v in zip(scored, vectors, strict=True))
        assigner = StoryAssigner(save_s=120.0)
        started = time.perf_counter()
        for i in range(0, len(prepared), 500):
            assigner.rows(assigner.assign(prepared[i : i + 500]))
        runs.append(len(prepared) / (time.perf_counter() - started))
        started = time.perf_counter()
        states = assigner.states()
        saves.append((time.perf_counter() - started) / len(states))
        dims = StoryClusterer().dims
        load_state(states[0][1], dims=dims)  # the first load imports the archive reader
        started = time.perf_counter()
        for _, data in states:
            load_state(data, dims=dims)
        loads.append((time.perf_counter() - started) / len(states))
        sizes.append(max(len(data) for _, data in states))
        urgent.append(_urgent_saves(prepared, settings.sentiment_story_save_size))
    rate = statistics.median(runs)
    save_ms, load_ms = 1000 * statistics.median(saves), 1000 * statistics.median(loads)
    urgent_count = statistics.median(count for count, _ in urgent)
    urgent_ms = statistics.median(ms for _, ms in urgent)
    return [
        Figure(
            "scoring/model",
            "story assignment share of worker time",
            worker_rate / rate,
            "share",
            None,
            None,
            f"bare assignment loop {rate:,.0f} mentions/s (assign + story rows) on {n} "
            f"mentions of the multilingual mix; worker {worker_rate:,.0f}/s; target below 0.25",
            runs,
        ),
        Figure(
            "scoring/model",
            "story state save per brand",
            save_ms,
            "ms",
            None,
            None,
            f"dump of each brand's clustering state after the loop above (restore "
            f"{load_ms:.1f} ms; largest state {max(sizes) / 1e6:.2f} MB); saved every 120 s "
            f"per brand with new mentions, at most 16 brands after a stored batch",
            [1000 * s for s in saves],
        ),
        Figure(
            "scoring/model",
            "urgent story state saves per 1,000 mentions",
            urgent_ms,
            "ms",
            None,
            None,
            f"{urgent_count:.1f} saves per 1,000 mentions in batches of 500 (a story reaching "
            f"{settings.sentiment_story_save_size} mentions or merging), dumps only; the worker "
            f"spends {1e6 / worker_rate:,.0f} ms on 1,000 mentions",
            [ms for _, ms in urgent],
        ),
    ]


def _urgent_saves(prepared: Sequence[PreparedMention], size: int) -> tuple[float, float]:
    """Saves a story reaching `size` mentions (or merging) asks for between rounds, per 1,000
    mentions, and the milliseconds their dumps take per 1,000 mentions."""
    from services.sentiment.stories import StoryAssigner

    assigner = StoryAssigner(save_s=3600.0, urgent_size=size, clock=lambda: 0.0)
    count, spent = 0, 0.0
    for i in range(0, len(prepared), 500):
        assigner.assign(prepared[i : i + 500])
        if assigner.save_due():
            started = time.perf_counter()
            count += len(assigner.states(16))
            spent += time.perf_counter() - started
    per = 1000 / max(1, len(prepared))
    return count * per, 1000 * spent * per
