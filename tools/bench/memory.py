"""Peak resident memory (VmHWM) of each service as a real process, with the default model.

Each service is started as `python -m services.cli <name>` on this run's database and
topics, waited for (HTTP `/healthz`, or the worker's metrics port), fed a small load
through both push endpoints (so the sentiment worker scores them with the shipped default,
the model tier, and alerting consumes their scores), then VmHWM is read from
`/proc/<pid>/status` and the process is stopped with SIGTERM.

Ceilings: the machine's total memory for every service (the ratio is the share used), and
for the sentiment worker also its budget, 1.5 GiB for the whole worker (parent and
enrichment processes) with the shipped default; torch is not imported unless a Hugging Face
model is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.runner import SERVICES
from shared.db.engine import create_engine
from shared.db.models import MentionRow
from tools.bench.data import generate_payloads
from tools.bench.env import BenchEnv
from tools.bench.figures import Figure
from tools.demo.receivers import free_port

READY_TIMEOUT_S = 180.0
MiB = 1024 * 1024
SENTIMENT_BUDGET_MIB = 1536.0


def process_tree(root: int) -> list[int]:
    """`root` and every process descending from it (enrichment children, for example)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [root]
    for pid in tree:  # grows while iterating: breadth-first
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def proc_status_kib(pid: int, field_name: str) -> int:
    """A `Vm*` field of /proc/<pid>/status in KiB (0 when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    return 0


def total_memory_mib() -> float:
    """MemTotal of this machine in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


@dataclass
class ServiceProc:
    """One service process and the URL that tells when it is ready."""

    name: str
    ready_url: str
    proc: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def pid(self) -> int:
        """The process id (after start)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} not started")
        return self.proc.pid


@dataclass
class Fleet:
    """Every service started with environment variables pointing at one run."""

    env: BenchEnv
    log_dir: Path
    transformer: bool = False  # the shipped default: the model tier, no transformer
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    ports: dict[str, int] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    procs: dict[str, ServiceProc] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The child processes' environment."""
        env = dict(os.environ)
        env.update(
            {
                "CRISISWATCH_PG_DATABASE": self.env.database,
                "CRISISWATCH_KAFKA_BOOTSTRAP": self.env.bootstrap,
                "CRISISWATCH_INGEST_REQUIRE_AUTH": "false",  # the load generator has no key
                "CRISISWATCH_TOPIC_RAW": self.topics["raw"],
                "CRISISWATCH_TOPIC_SCORED": self.topics["scored"],
                "CRISISWATCH_TOPIC_DLQ": self.topics["dlq"],
                "CRISISWATCH_API_PORT": str(self.ports["api"]),
                "CRISISWATCH_INGEST_PORT": str(self.ports["ingest"]),
                "CRISISWATCH_SENTIMENT_METRICS_PORT": str(self.ports["sentiment"]),
                "CRISISWATCH_ALERTING_METRICS_PORT": str(self.ports["alerting"]),
                "CRISISWATCH_SENTIMENT_GROUP_ID": f"bench-mem-sentiment-{self.run}",
                "CRISISWATCH_ALERTING_GROUP_ID": f"bench-mem-alerting-{self.run}",
                "CRISISWATCH_SENTIMENT_TRANSFORMER_ENABLED": str(self.transformer).lower(),
                "CRISISWATCH_RETENTION_INTERVAL_S": "0",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            }
        )
        return env

    async def start(self) -> None:
        """Create topics, pick ports and start every service."""
        raw, scored, dlq = await self.env.new_topics("mem-raw", "mem-scored", "mem-dlq")
        self.topics = {"raw": raw, "scored": scored, "dlq": dlq}
        self.ports = {name: free_port() for name in SERVICES}
        paths = {
            "api": "/healthz",
            "ingest": "/healthz",
            "sentiment": "/metrics",
            "alerting": "/metrics",
        }
        environment = self.environment()
        for name in SERVICES:
            svc = ServiceProc(name, f"http://127.0.0.1:{self.ports[name]}{paths[name]}")
            svc.log = self.log_dir / f"{name}.log"
            with svc.log.open("wb") as log:
                svc.proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "services.cli",
                    name,
                    env=environment,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            self.procs[name] = svc

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        """Poll each service's ready URL until it answers 200."""
        await asyncio.gather(*(self._ready(client, svc) for svc in self.procs.values()))

    async def _ready(self, client: httpx.AsyncClient, svc: ServiceProc) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            if svc.proc is not None and svc.proc.returncode is not None:
                raise RuntimeError(f"{svc.name} exited ({svc.proc.returncode}): {self._tail(svc)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(svc.ready_url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{svc.name} not ready in {READY_TIMEOUT_S:.0f} s: {self._tail(svc)}")

    @staticmethod
    def _tail(svc: ServiceProc) -> str:
        if svc.log is None or not svc.log.exists():
            return ""
        return svc.log.read_text(errors="replace")[-400:]

    async def push(self, client: httpx.AsyncClient, n: int) -> tuple[str, int]:
        """Push `n` mentions through each of api and ingest; return (brand, total accepted)."""
        brand = f"mem{self.run}"
        accepted = 0
        for name in ("api", "ingest"):
            payloads = generate_payloads(n, brands=(brand,), prefix=f"mem-{self.run}-{name}")
            for i in range(0, n, 100):
                url = f"http://127.0.0.1:{self.ports[name]}/v1/mentions"
                resp = await client.post(url, json=payloads[i : i + 100])
                items = resp.json()["items"]
                accepted += sum(1 for r in items if r["status"] == "accepted")
        return brand, accepted

    def peaks_mib(self) -> dict[str, float]:
        """VmHWM of every service in MiB, its child processes included (sum of their peaks)."""
        return {
            name: sum(proc_status_kib(pid, "VmHWM") for pid in process_tree(svc.pid)) / 1024
            for name, svc in self.procs.items()
        }

    async def stop(self) -> None:
        """SIGTERM every service and wait (SIGKILL after 30 s)."""
        for svc in self.procs.values():
            if svc.proc is not None and svc.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    svc.proc.send_signal(signal.SIGTERM)
        for svc in self.procs.values():
            if svc.proc is None:
                continue
            try:
                await asyncio.wait_for(svc.proc.wait(), timeout=30)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    svc.proc.kill()
                await svc.proc.wait()


async def _wait_stored(
    env: BenchEnv, brand: str, expected: int, timeout_s: float
) -> dict[str, int]:
    """Wait until `expected` rows of `brand` are stored; return the row count per scorer."""
    engine = create_engine(env.base, database=env.database)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    q = (
        select(MentionRow.scorer, func.count())
        .where(MentionRow.brand == brand)
        .group_by(MentionRow.scorer)
    )
    try:
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(q)).all()
            by_scorer = {str(scorer): int(count) for scorer, count in rows}
            if sum(by_scorer.values()) >= expected or loop.time() >= deadline:
                return by_scorer
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def measure_once(
    env: BenchEnv, log_dir: Path, *, load: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Start the fleet, push `load` mentions per endpoint; return (peaks MiB, rows per scorer)."""
    fleet = Fleet(env, log_dir)
    try:
        await fleet.start()
        async with httpx.AsyncClient(timeout=60) as client:
            await fleet.wait_ready(client)
            brand, accepted = await fleet.push(client, load)
        stored = await _wait_stored(env, brand, accepted, timeout_s=120)
        await asyncio.sleep(0.5)  # alerting consumes the scored events meanwhile
        for svc in fleet.procs.values():
            if svc.proc is not None and svc.proc.returncode is not None:
                raise RuntimeError(f"{svc.name} exited during the load: {fleet._tail(svc)}")
        return fleet.peaks_mib(), stored
    finally:
        await fleet.stop()


async def memory_figures(env: BenchEnv, *, load: int, repeats: int) -> list[Figure]:
    """Peak RSS per service (median of `repeats` fleets) against machine memory."""
    import tempfile

    runs: dict[str, list[float]] = {name: [] for name in SERVICES}
    stored: list[dict[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="crisiswatch-bench-mem-") as tmp:
        # Peak RSS does not depend on warm caches, so no warm-up fleet.
        for _ in range(repeats):
            peaks, count = await measure_once(env, Path(tmp), load=load)
            for name, mib in peaks.items():
                runs[name].append(mib)
            stored.append(count)
    total = total_memory_mib()
    note = (
        f"VmHWM after {load} mentions pushed to each of api and ingest (stored by scorer: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(stored[-1].items()))}), "
        f"sentiment as shipped (model tier, no transformer); processes started in parallel; "
        f"median of {repeats}"
    )
    figures = [
        Figure("memory", f"{name} peak RSS", statistics.median(runs[name]), "MiB", total,
               "machine MemTotal (ratio = share used)", note, runs[name])
        for name in SERVICES
    ]  # fmt: skip
    figures.append(
        Figure("memory", "sentiment peak RSS vs its budget",
               statistics.median(runs["sentiment"]), "MiB", SENTIMENT_BUDGET_MIB,
               "1.5 GiB for the whole worker (ratio < 1: within budget)", note,
               runs["sentiment"])
    )  # fmt: skip
    return figures
