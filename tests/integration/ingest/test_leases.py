"""Two ingest replicas and one polled source: the connector is leased to one replica at a
time, its cursor moves with the lease, and every post reaches `mentions.raw` once.

The replicas are two whole ingest services (`services.ingest.service.serve`) in this test
process, each with its own producer, database pool and HTTP port, polling a local server
that speaks Reddit's paged listing JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingest.core.lease import LeaseRow
from services.ingest.cursors import FencedCursorStore, PgCursorStore
from services.ingest.lease_store import LeaseLost, PgLeaseStore
from services.ingest.metrics import IngestMetrics
from services.ingest.service import serve
from services.ingest.sources.leasing import ConnectorLeases, LeaseTerm
from shared.db.engine import transaction
from shared.db.models import ConnectorCursorRow, ConnectorLeaseRow
from shared.schemas import Mention
from shared.settings.ingest import IngestSettings
from tests.integration.ingest.conftest import ACME, local_server
from tests.integration.ingest.payloads import reddit_post
from tests.kafka_helpers import free_port, read_topic, wait_for


class FakeSubreddit:
    """Newest-first listing in pages of 2 with `after`; remembers who asked (User-Agent)."""

    def __init__(self, first: int) -> None:
        self.posts = [reddit_post(n, f"Acme kettle report {n}") for n in range(1, first + 1)]
        self.agents: list[str] = []

    def add(self, upto: int) -> None:
        """Publish posts up to number `upto`."""
        start = len(self.posts) + 1
        self.posts += [reddit_post(n, f"Acme kettle report {n}") for n in range(start, upto + 1)]

    async def listing(self, request: Request) -> JSONResponse:
        self.agents.append(request.headers.get("user-agent", ""))
        after = request.query_params.get("after")
        newest_first = list(reversed(self.posts))
        names = [p["data"]["name"] for p in newest_first]
        start = 0 if after is None else 1 + names.index(after)
        page = newest_first[start : start + 2]
        more = start + 2 < len(newest_first)
        return JSONResponse(
            {
                "kind": "Listing",
                "data": {"after": page[-1]["data"]["name"] if more else None, "children": page},
            }
        )


class Replica:
    """One ingest service, started as a task; `stop()` is graceful, `kill()` a crash."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.name = settings.replica_id()
        self.agent = settings.reddit_user_agent
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(serve(self.settings, self._stop))

    def done(self) -> bool:
        return self._task is None or self._task.done()

    async def stop(self) -> None:
        """Stop gracefully: the connector finishes its batch and the lease is released."""
        assert self._task is not None
        self._stop.set()
        await asyncio.wait_for(self._task, timeout=30)

    async def kill(self) -> None:
        """Cancel the whole service at once: nothing is released, the lease must expire."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def metric(self, line_start: str) -> float | None:
        """The value of the first /metrics sample whose line starts with `line_start`."""
        url = f"http://127.0.0.1:{self.settings.ingest_port}/metrics"
        async with httpx.AsyncClient() as client:
            body = (await client.get(url)).text
        for line in body.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def subreddit(unique: str) -> str:
    return f"lease{unique}"


@pytest.fixture
async def clean_leases(db_engine: AsyncEngine, subreddit: str) -> AsyncIterator[None]:
    """No reddit lease before the test (a crashed replica's would delay it), none after."""

    async def clean() -> None:
        async with transaction(db_engine) as session:
            await session.execute(
                delete(ConnectorLeaseRow).where(ConnectorLeaseRow.source == "reddit")
            )
            await session.execute(
                delete(ConnectorCursorRow).where(
                    ConnectorCursorRow.source == f"reddit:r/{subreddit}"
                )
            )

    await clean()
    yield
    await clean()


@pytest.fixture
async def make_replica(
    settings_factory: Callable[..., Any], tmp_path: Path, subreddit: str
) -> AsyncIterator[Callable[..., Replica]]:
    """Build replicas of the ingest service that follow r/<subreddit> of the local server."""
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    watch = {**ACME, "sources": {"reddit": {"subreddits": [subreddit]}}}
    (watchlists / "acme.yaml").write_text(yaml.safe_dump(watch))
    started: list[Replica] = []

    def make(name: str, base_url: str, **overrides: Any) -> Replica:
        settings = settings_factory(
            IngestSettings,
            watchlist_dir=watchlists,
            reddit_base_url=base_url,
            reddit_poll_s=0.1,
            reddit_user_agent=f"crisiswatch-test {name}",
            fetch_allow_private=True,
            backoff_scale=0.01,
            ingest_port=free_port(),
            ingest_replica_id=name,
            **overrides,
        )
        replica = Replica(settings)
        replica.start()
        started.append(replica)
        return replica

    yield make
    for replica in started:  # a failed test leaves them running
        if not replica.done():
            await replica.stop()


async def _cursor(engine: AsyncEngine, subreddit: str) -> dict[str, Any] | None:
    return await PgCursorStore(engine).get(f"reddit:r/{subreddit}")


async def _reaches(engine: AsyncEngine, subreddit: str, post: int) -> None:
    cursor = await wait_for(
        lambda: _cursor(engine, subreddit),
        lambda c: c is not None and c["newest"] == f"t3_{post}",
        timeout_s=30,
    )
    assert cursor is not None and cursor["newest"] == f"t3_{post}", cursor


async def _holder(engine: AsyncEngine) -> LeaseRow | None:
    return await PgLeaseStore(engine).current("reddit")


async def _produced(settings: IngestSettings, expected: int) -> Counter[str]:
    records = await read_topic(settings.bootstrap_servers, settings.topic_raw, expected=expected)
    return Counter(Mention.model_validate_json(r.value).external_id for r in records)


@pytest.mark.usefixtures("clean_leases")
async def test_two_replicas_poll_one_source_once_and_hand_it_over_on_stop(
    make_replica: Callable[..., Replica], db_engine: AsyncEngine, subreddit: str
) -> None:
    fake = FakeSubreddit(first=3)
    app = Starlette(routes=[Route(f"/r/{subreddit}/new.json", fake.listing)])
    async with local_server(app) as url:
        # A long ttl: the hand-over below can only come from the release of a graceful stop.
        lease = {"connector_lease_ttl_s": 60.0, "connector_lease_renew_s": 0.2}
        replicas = {
            r.name: r for r in (make_replica(n, url, watchlist_poll_s=0.2, **lease) for n in "ab")
        }
        await _reaches(db_engine, subreddit, 3)
        fake.add(5)
        await _reaches(db_engine, subreddit, 5)
        fake.add(8)
        await _reaches(db_engine, subreddit, 8)

        row = await _holder(db_engine)
        assert row is not None and row.holder in replicas
        holder = replicas[row.holder]
        (other,) = (r for r in replicas.values() if r is not holder)
        # Only the holder polled; the other one asked for the lease and waited.
        assert set(fake.agents) == {holder.agent}
        assert await holder.metric('crisiswatch_ingest_connector_leases_held{source="reddit"}') == 1
        assert await other.metric('crisiswatch_ingest_connector_leases_held{source="reddit"}') == 0

        # A watchlist change re-plans the connectors of both replicas: the holder keeps the
        # lease (a new term, same replica), so its de-duplication memory stays in use.
        assert holder.settings.watchlist_dir is not None
        watch_file = holder.settings.watchlist_dir / "acme.yaml"
        watch_file.write_text(watch_file.read_text() + "display_name: Acme Corporation\n")
        replanned = await wait_for(
            lambda: _holder(db_engine),
            lambda r: r is not None and r.token > row.token,
            timeout_s=15,
        )
        assert replanned is not None and replanned.holder == holder.name
        fake.add(9)
        await _reaches(db_engine, subreddit, 9)
        assert set(fake.agents) == {holder.agent}

        polls_before = len(fake.agents)
        await holder.stop()
        taken = await wait_for(
            lambda: _holder(db_engine),
            lambda r: r is not None and r.holder == other.name,
            timeout_s=10,
        )
        assert taken is not None and taken.holder == other.name
        assert taken.token == replanned.token + 1
        fake.add(11)
        await _reaches(db_engine, subreddit, 11)
        assert set(fake.agents[polls_before:]) <= {holder.agent, other.agent}
        assert fake.agents[-1] == other.agent
        takeovers = await other.metric("crisiswatch_ingest_connector_lease_takeovers_total")
        assert takeovers in (None, 0.0)  # released, so not a takeover
        await other.stop()

    produced = await _produced(other.settings, expected=11)
    assert produced == Counter({f"t3_{n}": 1 for n in range(1, 12)})


@pytest.mark.usefixtures("clean_leases")
async def test_a_crashed_holder_is_taken_over_after_the_ttl_from_its_cursor(
    make_replica: Callable[..., Replica], db_engine: AsyncEngine, subreddit: str
) -> None:
    fake = FakeSubreddit(first=3)
    app = Starlette(routes=[Route(f"/r/{subreddit}/new.json", fake.listing)])
    async with local_server(app) as url:
        lease = {"connector_lease_ttl_s": 2.0, "connector_lease_renew_s": 0.5}
        replicas = {r.name: r for r in (make_replica(n, url, **lease) for n in ("a", "b"))}
        await _reaches(db_engine, subreddit, 3)
        row = await _holder(db_engine)
        assert row is not None and row.holder in replicas
        holder = replicas[row.holder]
        (other,) = (r for r in replicas.values() if r is not holder)

        await holder.kill()
        crashed = await _holder(db_engine)
        assert crashed is not None and crashed.holder == holder.name  # not released
        fake.add(6)  # posts keep coming while nobody runs the connector
        await _reaches(db_engine, subreddit, 6)

        taken = await _holder(db_engine)
        assert taken is not None and taken.holder == other.name
        assert taken.token > crashed.token
        async with transaction(db_engine) as session:
            acquired_at = await session.scalar(
                text("SELECT acquired_at FROM connector_leases WHERE source = 'reddit'")
            )
        assert acquired_at >= crashed.expires_at  # taken over only once the lease expired
        takeovers = 'crisiswatch_ingest_connector_lease_takeovers_total{source="reddit"}'
        assert await other.metric(takeovers) == 1
        await other.stop()

    produced = await _produced(other.settings, expected=6)
    assert produced == Counter({f"t3_{n}": 1 for n in range(1, 7)})  # no gap, nothing twice


async def test_a_stale_holders_cursor_write_is_refused(db_engine: AsyncEngine, unique: str) -> None:
    source, key = f"test-{unique}", f"test-{unique}:feed"
    store = PgLeaseStore(db_engine)
    try:
        first = await store.acquire(source, replica="a", ttl_s=1.0)
        assert first is not None and first.token == 1 and not first.takeover
        assert await store.acquire(source, replica="b", ttl_s=30.0) is None  # busy
        lost: list[bool] = []
        stale = FencedCursorStore(db_engine, first, on_lost=lambda: lost.append(True))
        await stale.put(key, {"newest": "p1"})

        second = await wait_for(
            lambda: store.acquire(source, replica="b", ttl_s=30.0),
            lambda lease: lease is not None,
            timeout_s=10,
            interval_s=0.1,
        )
        assert second is not None and second.token == 2 and second.takeover
        with pytest.raises(LeaseLost, match="no longer held"):
            await stale.put(key, {"newest": "p0-stale"})
        assert lost == [True]
        assert await stale.get(key) == {"newest": "p1"}  # the new holder resumes from here
        await FencedCursorStore(db_engine, second).put(key, {"newest": "p2"})
        assert await PgCursorStore(db_engine).get(key) == {"newest": "p2"}

        assert await store.renew(first, ttl_s=1.0) is None
        await store.release(first)  # a stale release changes nothing
        assert await store.current(source) == LeaseRow("b", 2, second.expires_at)
    finally:
        await _forget(db_engine, source, key)


async def test_a_refused_renewal_stops_the_connector_at_once(
    db_engine: AsyncEngine, unique: str
) -> None:
    source = f"test-{unique}"
    metrics = IngestMetrics(CollectorRegistry())
    leases = ConnectorLeases(
        PgLeaseStore(db_engine),
        lambda lease, on_lost: FencedCursorStore(db_engine, lease, on_lost=on_lost),
        replica="a",
        ttl_s=30.0,
        renew_s=0.2,
        metrics=metrics,
    )
    terms: list[LeaseTerm] = []
    stopped = asyncio.Event()

    async def work(term: LeaseTerm) -> None:
        terms.append(term)
        await term.stop.wait()
        stopped.set()

    stop = asyncio.Event()
    task = asyncio.create_task(leases.run(source, work, stop))
    try:
        await wait_for(lambda: _value(len(terms)), lambda n: n == 1, timeout_s=10, interval_s=0.05)
        assert metrics.leases_held.labels(source)._value.get() == 1
        # Another replica is granted the lease behind this one's back (a clock jump, an
        # operator): the next renewal is refused and the connector stops, long before the ttl.
        async with transaction(db_engine) as session:
            await session.execute(
                update(ConnectorLeaseRow)
                .where(ConnectorLeaseRow.source == source)
                .values(holder="intruder", token=ConnectorLeaseRow.token + 1)
            )
        await asyncio.wait_for(stopped.wait(), timeout=30)
        assert not terms[0].valid()
        await wait_for(
            lambda: _value(metrics.leases_lost.labels(source)._value.get()),
            lambda n: n == 1,
            timeout_s=30,
            interval_s=0.05,
        )
        assert metrics.leases_held.labels(source)._value.get() == 0
        with pytest.raises(LeaseLost):
            await terms[0].cursors.put(f"{source}:key", {"x": 1})
        row = await PgLeaseStore(db_engine).current(source)
        assert row is not None and row.holder == "intruder"  # releasing it changed nothing
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await _forget(db_engine, source, f"{source}:key")


async def _value(x: Any) -> Any:
    return x


async def _forget(engine: AsyncEngine, lease: str, cursor: str) -> None:
    """Delete the lease row and the cursor a test wrote."""
    async with transaction(engine) as session:
        await session.execute(delete(ConnectorLeaseRow).where(ConnectorLeaseRow.source == lease))
        await session.execute(delete(ConnectorCursorRow).where(ConnectorCursorRow.source == cursor))
