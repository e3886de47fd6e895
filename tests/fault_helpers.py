"""Helpers of the fault, hostile-input and soak tests: subprocess workers, private brokers and
database clusters, group offsets, exactly-once checks and a Slack look-alike that fails for a
while. Everything polls with deadlines; nothing sleeps a fixed time to "let things settle".
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import serde
from shared.db.models import MentionRow, RollupRow
from shared.kafka import EventProducer
from shared.schemas import Engagement, Mention
from shared.settings.infra import InfraSettings
from tools.bench.memory import process_tree

REPO_ROOT = Path(__file__).resolve().parents[1]

NEGATIVE_TEXTS = (
    "This phone exploded while charging, absolutely terrible and dangerous!",
    "Worst product ever, the battery is broken and support is useless. Awful.",
    "I hate this company, my order arrived broken and they refuse a refund.",
)
CALM_TEXTS = (
    "Love the new camera, the photos look amazing!",
    "The store opens at nine tomorrow.",
    "Great support team, they fixed my issue in minutes. Thank you!",
)


def mention(
    brand: str,
    external_id: str,
    *,
    text: str = CALM_TEXTS[0],
    author: str | None = None,
    created_at: datetime | None = None,
    platform: str = "x",
) -> Mention:
    """A valid raw mention of `brand` (what ingest produces to mentions.raw)."""
    return Mention(
        platform=platform,
        external_id=external_id,
        author_id=author or f"a_{external_id}",
        text=text,
        created_at=created_at or datetime.now(UTC),
        engagement=Engagement(likes=1),
        brands=[brand],
    )


def mentions(brand: str, count: int, *, prefix: str = "", start: int = 0) -> list[Mention]:
    """`count` calm mentions with ids `{prefix or brand}-{i}`, created over the last minutes.

    Ids include the brand: the session database is shared, and a (platform, external id)
    stored by another test would make these no-ops.
    """
    prefix = prefix or brand
    now = datetime.now(UTC)
    return [
        mention(
            brand,
            f"{prefix}-{i}",
            text=CALM_TEXTS[i % len(CALM_TEXTS)],
            created_at=now - timedelta(seconds=i % 600),
        )
        for i in range(start, start + count)
    ]


async def produce(bootstrap: str, topic: str, items: Sequence[Mention]) -> None:
    """Produce mentions to `topic` keyed by brand, in chunks, and wait for every ack."""
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        for i in range(0, len(items), 500):
            chunk = items[i : i + 500]
            await producer.send_many(topic, [(m.key, serde.dumps(m)) for m in chunk])
    finally:
        await producer.stop()


# -- the database side of "exactly once" ---------------------------------------------------


@dataclass(frozen=True)
class StoredCounts:
    """Rows per external id of one brand, and the brand's rollup volume."""

    per_id: dict[str, int]
    rollup_volume: int

    @property
    def rows(self) -> int:
        """Total mention rows of the brand."""
        return sum(self.per_id.values())


async def stored_counts(engine: AsyncEngine, brand: str) -> StoredCounts:
    """Count mention rows per external id and sum the all-topics minute rollup volume."""
    async with engine.connect() as conn:
        per_id = dict(
            (
                await conn.execute(
                    select(MentionRow.external_id, func.count())
                    .where(MentionRow.brand == brand)
                    .group_by(MentionRow.external_id)
                )
            ).all()
        )
        volume = (
            await conn.execute(
                select(func.coalesce(func.sum(RollupRow.volume), 0)).where(
                    RollupRow.brand == brand, RollupRow.topic == ""
                )
            )
        ).scalar_one()
    return StoredCounts({k: int(v) for k, v in per_id.items()}, int(volume))


def assert_exactly_once(counts: StoredCounts, expected_ids: set[str]) -> None:
    """Every expected id stored once, nothing else, and the rollups counted each once."""
    missing = expected_ids - set(counts.per_id)
    extra = set(counts.per_id) - expected_ids
    doubled = {k: n for k, n in counts.per_id.items() if n != 1}
    assert not missing, f"{len(missing)} mentions never stored, e.g. {sorted(missing)[:5]}"
    assert not extra, f"unexpected rows: {sorted(extra)[:5]}"
    assert not doubled, f"mentions stored more than once: {doubled}"
    assert counts.rollup_volume == len(expected_ids), (
        f"rollup volume {counts.rollup_volume} != {len(expected_ids)} mentions (double counting)"
    )


# -- Kafka consumer groups ---------------------------------------------------------------


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offset per (topic, partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="fault-tests")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def group_state(bootstrap: str, group: str) -> tuple[str, int]:
    """(state, member count) of a consumer group, e.g. ("PreparingRebalance", 2)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="fault-tests")
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    group_info = described[0].groups[0]
    return str(group_info[2]), len(group_info[5])


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[tuple[str, int], int]:
    """Log-end offset of each partition of `topic`."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="fault-tests")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): off for tp, off in ends.items()}


async def group_lag(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Records of `topic` the group has not committed yet (uncommitted partitions count all)."""
    ends = await end_offsets(bootstrap, topic, partitions)
    committed = await committed_offsets(bootstrap, group)
    return sum(max(0, end - max(committed.get(tp, 0), 0)) for tp, end in ends.items())


# -- sentiment workers as real processes ------------------------------------------------------


def service_env(settings: Any, **extra: str) -> dict[str, str]:
    """CRISISWATCH_* environment for a service subprocess from a settings object."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISWATCH_")}
    fields = {
        "kafka_bootstrap": settings.bootstrap_servers,
        "topic_raw": settings.topic_raw,
        "topic_scored": settings.topic_scored,
        "topic_dlq": settings.topic_dlq,
        "pg_host": settings.pg_host,
        "pg_port": settings.pg_port,
        "pg_database": settings.pg_database,
        "pg_user": settings.pg_user,
        "pg_password": settings.pg_password.get_secret_value(),
    }
    for name in (
        "sentiment_group_id",
        "sentiment_batch_size",
        "sentiment_retry_max_s",
        "sentiment_session_timeout_s",
        "sentiment_enrich_processes",
    ):
        if hasattr(settings, name):
            fields[name] = getattr(settings, name)
    env.update({f"CRISISWATCH_{k.upper()}": str(v) for k, v in fields.items()})
    env["CRISISWATCH_SENTIMENT_METRICS_PORT"] = "0"
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    """`python -m services.cli <command>` (sentiment by default) in its own process, its log
    in a file."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    command: str = "sentiment"

    def start(self) -> None:
        """Launch the worker (logs appended to `log_path`)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", self.command],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> list[int]:
        """Process ids descending from this worker (its enrichment processes)."""
        return process_tree(self.pid)[1:]

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, the group learns of it by session timeout."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the process freezes (a long GC pause, a frozen node) until `resume`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self) -> None:
        """SIGTERM without waiting (`stop` waits for the exit)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout_s`); return the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_bytes(self) -> int:
        """Resident set size of the process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")


# -- private Kafka broker and PostgreSQL cluster -----------------------------------------------


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1."""
    import socket

    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def private_kafka_settings(state_dir: Path, topics: Mapping[str, str]) -> InfraSettings:
    """Settings of a private single-node broker on free ports under `state_dir`."""
    port, controller = free_ports(2)
    return InfraSettings(
        kafka_port=port,
        kafka_controller_port=controller,
        kafka_bootstrap=None,
        state_dir=state_dir,
        partitions_raw=3,
        partitions_scored=3,
        partitions_dlq=1,
        **topics,
    )


PRIVATE_PG_CLUSTER = "cwfaults"


def pg_cluster(action: str, name: str = PRIVATE_PG_CLUSTER) -> None:
    """`pg_ctlcluster 15 <name> <action>` (start or stop; stop uses fast mode)."""
    cmd = ["pg_ctlcluster", "15", name, action]
    if action == "stop":
        cmd += ["-m", "fast"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def drop_pg_cluster(name: str = PRIVATE_PG_CLUSTER) -> None:
    """Stop and delete the private cluster (no error when it does not exist)."""
    subprocess.run(
        ["pg_dropcluster", "--stop", "15", name], check=False, capture_output=True, timeout=120
    )


# -- a Slack incoming webhook that fails for a while ------------------------------------------


@dataclass
class FlakySlack:
    """Answers 500 and 429 (Retry-After: 1) alternately until `heal()`, then `ok`."""

    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    failing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Record the request and choose the answer."""
        with self.lock:
            payload = json.loads(body)
            if self.failing:
                n_failed = sum(1 for s, _ in self.received if s != 200)
                status, headers, reply = (
                    (429, {"Retry-After": "1"}, b"rate_limited")
                    if n_failed % 2
                    else (500, {}, b"internal_error")
                )
            else:
                status, headers, reply = 200, {}, b"ok"
            self.received.append((status, payload))
            return status, headers, reply

    def heal(self) -> None:
        """Stop failing from now on."""
        with self.lock:
            self.failing = False

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered with 200."""
        with self.lock:
            return [p for s, p in self.received if s == 200]

    def refused(self) -> list[int]:
        """Statuses of the failed attempts."""
        with self.lock:
            return [s for s, _ in self.received if s != 200]

    @contextmanager
    def serving(self) -> Iterator[FlakySlack]:
        """Run the receiver on 127.0.0.1 for the duration of the block."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers, reply = fake.answer(body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/services/hook"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


async def poll_until(
    condition: Any, *, timeout_s: float, interval_s: float = 0.1, what: str = "condition"
) -> None:
    """Await `condition()` (sync or async, truthy when done) until true; fail after timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)
