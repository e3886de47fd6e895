"""Ingest benchmark: `crisiswatch replay` of a mention file into Kafka, against raw produce.

The ceiling is an `EventProducer` sending the same number of already-encoded `Mention`
events (no file reading, validation, matching, pseudonymisation or dedupe).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from services.ingest.sources.replay import run_replay
from shared import serde
from shared.kafka import EventProducer
from shared.settings.ingest import IngestSettings
from tools.bench.data import generate_mentions, generate_payloads
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure


def write_payload_file(path: Path, n: int, *, prefix: str) -> None:
    """A JSONL file of `n` push payloads."""
    with path.open("wb") as fh:
        for payload in generate_payloads(n, prefix=prefix):
            fh.write(orjson.dumps(payload) + b"\n")


async def replay_rate(env: BenchEnv, path: Path) -> float:
    """Mentions/s of `run_replay` on `path` into a fresh topic."""
    (raw, dlq) = await env.new_topics("replay", "replay-dlq")
    settings = env.settings(IngestSettings, topic_raw=raw, topic_dlq=dlq)
    stats = await run_replay(settings, path, rebase=True, progress=False)
    if stats.produced == 0:
        raise RuntimeError("replay produced nothing")
    return stats.rate


async def raw_produce_rate(env: BenchEnv, n: int, *, prefix: str) -> float:
    """Records/s of producing `n` encoded mentions with no ingest logic."""
    (topic,) = await env.new_topics("produce")
    encoded = [(m.key, serde.dumps(m)) for m in generate_mentions(n, prefix=prefix)]
    producer = EventProducer(env.bootstrap, client_id="bench-produce", send_timeout_s=120)
    await producer.start()
    try:
        started = time.perf_counter()
        for i in range(0, n, 10_000):
            await producer.send_many(topic, encoded[i : i + 10_000])
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def ingest_figures(env: BenchEnv, *, n: int, repeats: int) -> list[Figure]:
    """Replay rate with its raw-produce ceiling, medians of `repeats` runs."""
    replay: list[float] = []
    ceiling: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats + 1):  # the first run warms up and is not counted
            path = Path(tmp) / f"mentions-{r}.jsonl"
            prefix = f"replay-{env.run_id}-{r}"
            await asyncio.to_thread(write_payload_file, path, n, prefix=prefix)
            rate = await replay_rate(env, path)
            raw = await raw_produce_rate(env, n, prefix=prefix)
            if r:
                replay.append(rate)
                ceiling.append(raw)
    note = f"{n:,} mentions per run (JSONL, rebased), median of {repeats}"
    return [
        Figure("ingest", "replay mentions/s vs raw produce", statistics.median(replay),
               "mentions/s", statistics.median(ceiling), "EventProducer.send_many of the "
               "encoded events", note, replay),
    ]  # fmt: skip
