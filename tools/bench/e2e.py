"""End-to-end benchmark: push endpoint -> Kafka -> one VADER sentiment worker -> PostgreSQL.

- sustained rate: the offered load is stepped up (batches of 100 via POST /v1/mentions at
  a fixed schedule); a step is held when, after a short grace, the backlog (accepted minus
  stored rows) is at most one second of the offered load and the client really offered
  at least 90% of it. The figure is the highest held step.
- ceiling: the same push endpoint's accept rate with no worker running (ingest alone).
- latency: HTTP 202 received -> scored row visible in PostgreSQL, at half the sustained
  rate, by polling the mentions table every 50 ms.

Everything (HTTP client, API app, worker) runs in one process and one event loop, the way
the pipeline test runs them; the client and server share the loop in the ceiling too.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from services.sentiment.service import serve as serve_sentiment
from shared.db.engine import create_engine
from shared.db.models import MentionRow
from shared.http.server import serve_app
from shared.settings.api import ApiSettings
from shared.settings.ingest import IngestSettings
from shared.settings.sentiment import SentimentSettings
from tools.bench.data import generate_payloads
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure, percentile
from tools.demo.receivers import free_port

BATCH = 100
POLL_S = 0.05
LATENCY_TARGET_S = 2.0
DEFAULT_STEPS = (250, 500, 1000, 1500, 2000, 3000, 4000)
MAX_IN_FLIGHT = 32
CEILING_CLIENTS = (1, 4)


@dataclass
class Pipeline:
    """A running API app (and optionally a sentiment worker) on one run's topics."""

    client: httpx.AsyncClient
    engine: AsyncEngine
    run: str
    counter: int = 0

    def batch(self, brand: str) -> list[dict[str, Any]]:
        """`BATCH` fresh payloads (unique external ids) for `brand`."""
        prefix = f"e2e-{self.run}-{self.counter}"
        self.counter += 1
        return generate_payloads(BATCH, brands=(brand,), seed=self.counter, prefix=prefix)

    async def post(self, items: list[dict[str, Any]]) -> int:
        """Push one batch; return how many items were accepted."""
        resp = await self.client.post("/v1/mentions", json=items)
        if resp.status_code == 503:  # backpressure: nothing of the batch was accepted
            return 0
        if resp.status_code not in (200, 202, 422):
            raise RuntimeError(f"push answered {resp.status_code}: {resp.text[:200]}")
        return sum(1 for r in resp.json()["items"] if r["status"] == "accepted")

    async def stored(self, brand: str) -> int:
        """Rows of `brand` visible in PostgreSQL."""
        async with self.engine.connect() as conn:
            q = select(func.count()).select_from(MentionRow).where(MentionRow.brand == brand)
            return int((await conn.execute(q)).scalar_one())


@asynccontextmanager
async def pipeline(env: BenchEnv, *, worker: bool) -> AsyncIterator[Pipeline]:
    """Start the API app (and a VADER sentiment worker) on fresh topics; stop them after."""
    raw, scored, dlq = await env.new_topics("e2e-raw", "e2e-scored", "e2e-dlq")
    topics = {"topic_raw": raw, "topic_scored": scored, "topic_dlq": dlq}
    port = free_port()
    stop = asyncio.Event()
    app = create_app(
        env.settings(ApiSettings, **topics),
        env.settings(IngestSettings, **topics, ingest_require_auth=False),  # the load has no key
        registry=CollectorRegistry(),
    )
    tasks = [asyncio.create_task(serve_app(app, host="127.0.0.1", port=port, stop=stop))]
    if worker:
        sentiment = env.settings(
            SentimentSettings,
            **topics,
            sentiment_group_id=f"bench-e2e-{uuid.uuid4().hex[:6]}",
            sentiment_metrics_port=0,
        )
        tasks.append(asyncio.create_task(serve_sentiment(sentiment, stop)))
    engine = create_engine(env.base, database=env.database)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits)
    try:
        await _ready(client, tasks)
        yield Pipeline(client, engine, uuid.uuid4().hex[:6])
    finally:
        stop.set()
        await client.aclose()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=30)
        await engine.dispose()


async def _ready(client: httpx.AsyncClient, tasks: list[asyncio.Task[None]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for task in tasks:
            if task.done():
                task.result()  # a service that died raises here
                raise RuntimeError("a service stopped before it was ready")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("the API app did not answer /healthz within 60 s")


@dataclass
class Offered:
    """What one paced run of pushes achieved."""

    accepted: int = 0
    seconds: float = 0.0
    refused: int = 0  # batches answered 503 (Kafka unavailable / backpressure)

    @property
    def rate(self) -> float:
        """Accepted items per second."""
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


async def offer(
    pipe: Pipeline,
    brand: str,
    *,
    rate: float,
    seconds: float,
    accept_times: dict[str, float] | None = None,
) -> Offered:
    """Push batches of `BATCH` to `brand` at `rate` items/s for `seconds`.

    With `accept_times`, each accepted id's response time is recorded there as it arrives.
    """
    n_batches = max(1, round(rate * seconds / BATCH))
    interval = BATCH / rate
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    out = Offered()

    async def send(items: list[dict[str, Any]]) -> None:
        try:
            resp = await pipe.client.post("/v1/mentions", json=items)
            now = time.monotonic()
            if resp.status_code == 503:  # overload backpressure: nothing of the batch taken
                out.refused += 1
                return
            if resp.status_code not in (200, 202, 422):
                raise RuntimeError(f"push answered {resp.status_code}: {resp.text[:200]}")
            for r in resp.json()["items"]:
                if r["status"] == "accepted":
                    out.accepted += 1
                    if accept_times is not None:
                        accept_times[items[r["index"]]["external_id"]] = now
        finally:
            gate.release()

    started = time.monotonic()
    tasks = []
    for i in range(n_batches):
        items = pipe.batch(brand)
        delay = started + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()  # too many in flight: the schedule slips, the rate shows it
        tasks.append(asyncio.create_task(send(items)))
    await asyncio.gather(*tasks)
    out.seconds = max(time.monotonic() - started, n_batches * interval)
    return out


async def ingest_alone_rate(env: BenchEnv, *, seconds: float, concurrency: int = 8) -> float:
    """Items/s the push endpoint accepts with no worker, pushing as fast as it answers."""
    async with pipeline(env, worker=False) as pipe:
        brand = f"ceil{pipe.run}"
        accepted = 0

        async def pusher(deadline: float) -> None:
            nonlocal accepted
            while time.monotonic() < deadline:
                accepted += await pipe.post(pipe.batch(brand))

        # Warm-up (connections, producer, caches) for half a second, not counted.
        warm_until = time.monotonic() + 0.5
        await asyncio.gather(*(pusher(warm_until) for _ in range(concurrency)))
        accepted = 0
        started = time.monotonic()
        await asyncio.gather(*(pusher(started + seconds) for _ in range(concurrency)))
        return accepted / (time.monotonic() - started)


@dataclass(frozen=True)
class Step:
    """One offered-load step: what was offered, achieved, and the backlog after the grace."""

    offered: float
    achieved: float
    backlog: int
    held: bool
    refused: int = 0


async def _drain(pipe: Pipeline, brand: str, expected: int, timeout_s: float) -> int:
    """Wait until `expected` rows of `brand` are stored (or the timeout); return the backlog."""
    deadline = time.monotonic() + timeout_s
    while True:
        backlog = expected - await pipe.stored(brand)
        if backlog <= 0 or time.monotonic() >= deadline:
            return max(backlog, 0)
        await asyncio.sleep(POLL_S)


async def ramp(
    pipe: Pipeline, steps: tuple[float, ...], *, seconds: float, grace: float
) -> list[Step]:
    """Step the offered load up until the backlog grows; return every step run.

    The pipeline is drained before returning, also when the top step was held (a held step
    may leave up to a second of backlog), so whatever runs next starts from idle.
    """
    out: list[Step] = []
    for rate in steps:
        brand = f"e2e{pipe.run}n{pipe.counter}r{int(rate)}"  # fresh per ramp and step
        offered = await offer(pipe, brand, rate=rate, seconds=seconds)
        await asyncio.sleep(grace)
        backlog = offered.accepted - await pipe.stored(brand)
        held = backlog <= rate * 1.0 and offered.rate >= 0.9 * rate and not offered.refused
        out.append(Step(rate, offered.rate, backlog, held, offered.refused))
        if not held or rate == steps[-1]:
            await _drain(pipe, brand, offered.accepted, timeout_s=30)  # leave no backlog behind
        if not held:
            break
    return out


async def visible_latencies(pipe: Pipeline, *, rate: float, seconds: float) -> list[float]:
    """Seconds from HTTP accept to the scored row visible in PostgreSQL, per mention."""
    # Fresh per run: the poll below reads this brand's rows, and a brand carried over from
    # the previous run would make each poll (and the process it shares) ever heavier.
    brand = f"e2e{pipe.run}lat{pipe.counter}r{int(rate)}"
    accept_times: dict[str, float] = {}
    visible: dict[str, float] = {}

    async def poll_once() -> None:
        pending = [ext for ext in accept_times if ext not in visible]
        if not pending:
            return
        async with pipe.engine.connect() as conn:
            q = select(MentionRow.external_id).where(
                MentionRow.brand == brand, MentionRow.external_id.in_(pending)
            )
            found = (await conn.execute(q)).scalars().all()
        now = time.monotonic()
        for ext in found:
            visible.setdefault(ext, now)

    async def poller(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await poll_once()
            await asyncio.sleep(POLL_S)

    pushing_done = asyncio.Event()
    poll_task = asyncio.create_task(poller(pushing_done))
    try:
        offered = await offer(pipe, brand, rate=rate, seconds=seconds, accept_times=accept_times)
    finally:
        pushing_done.set()
        await poll_task
    deadline = time.monotonic() + 60
    while len(visible) < offered.accepted and time.monotonic() < deadline:
        await poll_once()
        await asyncio.sleep(POLL_S)
    return [max(0.0, visible[e] - accept_times[e]) for e in visible]


@dataclass(frozen=True)
class E2eSizes:
    """How long and how often each part of the stage runs."""

    steps: tuple[float, ...] = DEFAULT_STEPS
    step_s: float = 3.0
    grace_s: float = 1.0
    ceiling_s: float = 2.0
    latency_s: float = 4.0
    repeats: int = 1


QUICK = E2eSizes(
    steps=(500, 1000, 2000, 3000, 4000), step_s=1.5, grace_s=0.75, ceiling_s=1.5, latency_s=2.0
)
FULL = E2eSizes(step_s=4.0, grace_s=1.5, ceiling_s=4.0, latency_s=10.0, repeats=3)


def _sustained(steps: list[Step]) -> float:
    held = [s.offered for s in steps if s.held]
    return max(held) if held else 0.0


async def e2e_figures(env: BenchEnv, sizes: E2eSizes) -> list[Figure]:
    """Sustained rate vs ingest alone, and accept-to-visible latency at half that rate."""
    ceilings: list[float] = []
    by_clients: dict[int, list[float]] = {c: [] for c in CEILING_CLIENTS}
    for _ in range(sizes.repeats):
        rates = {c: await ingest_alone_rate(env, seconds=sizes.ceiling_s, concurrency=c)
                 for c in CEILING_CLIENTS}  # fmt: skip
        for c, r in rates.items():
            by_clients[c].append(r)
        ceilings.append(max(rates.values()))
    sustained: list[float] = []
    p50s: list[float] = []
    p95s: list[float] = []
    p99s: list[float] = []
    counts: list[int] = []
    last_steps: list[Step] = []
    async with pipeline(env, worker=True) as pipe:
        warm = await offer(pipe, f"e2e{pipe.run}warm", rate=sizes.steps[0], seconds=1.0)
        await _drain(pipe, f"e2e{pipe.run}warm", warm.accepted, timeout_s=30)  # warm-up done
        for _ in range(sizes.repeats):
            last_steps = await ramp(pipe, sizes.steps, seconds=sizes.step_s, grace=sizes.grace_s)
            sustained.append(_sustained(last_steps))
        rate = max(statistics.median(sustained) / 2, sizes.steps[0] / 2)
        for _ in range(sizes.repeats):
            lat = await visible_latencies(pipe, rate=rate, seconds=sizes.latency_s)
            counts.append(len(lat))
            p50s.append(percentile(lat, 50))
            p95s.append(percentile(lat, 95))
            p99s.append(percentile(lat, 99))
    ceiling = statistics.median(ceilings)
    trace = ", ".join(
        f"{s.offered:.0f}/s {'held' if s.held else 'lagged'} (got {s.achieved:.0f}/s, "
        f"backlog {s.backlog}{f', {s.refused} batches 503' if s.refused else ''})"
        for s in last_steps
    )
    ramp_note = (
        f"steps {', '.join(f'{s:.0f}' for s in sizes.steps)}/s, {sizes.step_s:g} s each, "
        f"batches of {BATCH}; held = backlog (accepted - stored) <= 1 s of load after a "
        f"{sizes.grace_s:g} s grace, >= 90% of the load offered and no 503; median of "
        f"{sizes.repeats}; one VADER worker, client+API+worker in one process; last ramp: {trace}"
    )
    lat_note = (
        f"HTTP 202 -> row visible in PostgreSQL at {rate:.0f}/s for {sizes.latency_s:g} s "
        f"({statistics.median(counts):.0f} mentions), mentions table polled every "
        f"{POLL_S * 1000:.0f} ms (resolution ~{POLL_S * 1000:.0f} ms + query time); "
        f"median of {sizes.repeats}"
    )
    stage = "e2e"
    clients = ", ".join(
        f"{c} client{'s' if c > 1 else ''} {statistics.median(r):.0f}/s"
        for c, r in by_clients.items()
    )
    target = f"target {LATENCY_TARGET_S:.0f} s (ratio < 1 meets it)"
    return [
        Figure(stage, "sustained mentions/s vs ingest alone", statistics.median(sustained),
               "mentions/s", ceiling, "push endpoint accept rate, no worker (best of "
               f"{clients})", ramp_note, sustained),
        Figure(stage, "accept->visible p50", statistics.median(p50s), "s", LATENCY_TARGET_S,
               target, lat_note, p50s),
        Figure(stage, "accept->visible p95", statistics.median(p95s), "s", LATENCY_TARGET_S,
               target, lat_note, p95s),
        Figure(stage, "accept->visible p99", statistics.median(p99s), "s", LATENCY_TARGET_S,
               target, lat_note, p99s),
    ]  # fmt: skip
