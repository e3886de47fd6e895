"""Sentiment workers killed with SIGKILL mid-batch and during a rebalance: exactly once in PG.

The workers run as real processes (`python -m services.cli sentiment`) so `kill -9` means
what it means in production: no `finally`, no offset commit, no group leave.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import (
    WorkerProcess,
    assert_exactly_once,
    committed_offsets,
    group_state,
    mentions,
    poll_until,
    produce,
    service_env,
    stored_counts,
)

TOTAL = 3000
REBALANCE_TOTAL = 8000
BATCH = 50  # small batches: the kill lands between store and commit of some batch
# The broker's minimum session timeout: a killed worker's partitions move 4 s sooner.
SESSION_TIMEOUT_S = 6.0


def _worker(settings: SentimentSettings, tmp_path: Path, name: str) -> WorkerProcess:
    return WorkerProcess(service_env(settings), tmp_path / f"{name}.log")


async def test_kill9_mid_batch_then_restart_stores_each_mention_once(
    settings_factory: Any, db_engine: Any, unique: str, tmp_path: Path
) -> None:
    brand = f"kill-{unique}"
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_batch_size=BATCH,
        sentiment_session_timeout_s=SESSION_TIMEOUT_S,
    )
    items = mentions(brand, TOTAL)
    await produce(settings.bootstrap_servers, settings.topic_raw, items)
    worker = _worker(settings, tmp_path, "first")
    worker.start()
    try:
        # Kill while the backlog is being worked through: some batches stored, most not.
        await poll_until(
            lambda: _rows_between(db_engine, brand, BATCH, TOTAL // 2),
            timeout_s=90,
            interval_s=0.05,
            what=f"the first batches of {brand}",
        )
        children = worker.children()
        assert children, "the worker runs its enrichment in child processes by default"
        worker.kill9()
        # Its enrichment processes notice and end by themselves: no orphans keep memory.
        await poll_until(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in children),
            timeout_s=15,
            what=f"enrichment processes {children} to end after their parent was killed",
        )
        before = await stored_counts(db_engine, brand)
        assert 0 < before.rows < TOTAL, "the kill did not land mid-stream"

        restarted = _worker(settings, tmp_path, "second")
        restarted.start()
        try:
            await poll_until(
                lambda: _rows_at_least(db_engine, brand, TOTAL),
                timeout_s=120,
                what="the backlog to be stored after the restart",
            )
            # Wait for the final commit so the test also proves offsets reach the end.
            await poll_until(
                lambda: _committed_total(settings, TOTAL),
                timeout_s=60,
                what="offsets committed to the end",
            )
            assert restarted.alive(), restarted.log()[-2000:]
        finally:
            restarted.stop()
        assert_exactly_once(await stored_counts(db_engine, brand), {m.external_id for m in items})
    finally:
        if worker.alive():
            worker.kill9()


async def test_worker_killed_during_rebalance_loses_and_doubles_nothing(
    settings_factory: Any, db_engine: Any, unique: str, tmp_path: Path
) -> None:
    brand = f"rebal-{unique}"
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_batch_size=BATCH,
        sentiment_session_timeout_s=SESSION_TIMEOUT_S,
    )
    group = settings.sentiment_group_id
    items = mentions(brand, REBALANCE_TOTAL)
    head, tail = items[:1000], items[1000:]
    await produce(settings.bootstrap_servers, settings.topic_raw, head)
    first = _worker(settings, tmp_path, "a")
    second = _worker(settings, tmp_path, "b")
    first.start()
    try:
        try:
            await poll_until(
                lambda: _rows_at_least(db_engine, brand, BATCH),
                timeout_s=90,
                interval_s=0.05,
                what="worker a to start storing",
            )
        except AssertionError as exc:
            state = await group_state(settings.bootstrap_servers, group)
            offsets = await committed_offsets(settings.bootstrap_servers, group)
            raise AssertionError(f"{exc}; group {state}, offsets {offsets}: {first.log()}") from exc
        seen: list[tuple[str, int]] = []
        rebalanced = asyncio.Event()

        async def watch_group() -> None:
            # From before b starts: a quick rebalance can be over before the tail is produced.
            while not rebalanced.is_set():
                state = await group_state(settings.bootstrap_servers, group)
                seen.append(state)
                if state[0] in {"PreparingRebalance", "CompletingRebalance"}:
                    rebalanced.set()
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch_group())
        second.start()  # its join makes the coordinator rebalance the group
        await poll_until(
            lambda: "worker consuming" in second.log(), timeout_s=90, what="worker b to subscribe"
        )
        # The bulk arrives while b joins: a is mid-batch when the rebalance starts.
        await produce(settings.bootstrap_servers, settings.topic_raw, tail)
        try:
            await asyncio.wait_for(rebalanced.wait(), timeout=60)
        finally:
            watcher.cancel()
        first.kill9()
        assert (await stored_counts(db_engine, brand)).rows < REBALANCE_TOTAL, "killed too late"

        await poll_until(
            lambda: _rows_at_least(db_engine, brand, REBALANCE_TOTAL),
            timeout_s=150,
            what="worker b to take over every partition",
        )
        await poll_until(
            lambda: _committed_total(settings, REBALANCE_TOTAL),
            timeout_s=60,
            what="final commits",
        )
        assert second.alive(), second.log()[-2000:]
        assert_exactly_once(await stored_counts(db_engine, brand), {m.external_id for m in items})
        assert any(s[0] != "Stable" for s in seen)
    finally:
        for proc in (first, second):
            if proc.alive():
                proc.kill9()


async def _rows_between(engine: Any, brand: str, low: int, high: int) -> bool:
    rows = (await stored_counts(engine, brand)).rows
    if rows >= high:
        raise AssertionError(f"{rows} rows already stored: too fast to kill mid-stream")
    return rows >= low


async def _rows_at_least(engine: Any, brand: str, count: int) -> bool:
    return (await stored_counts(engine, brand)).rows >= count


async def _committed_total(settings: SentimentSettings, total: int) -> bool:
    offsets = await committed_offsets(settings.bootstrap_servers, settings.sentiment_group_id)
    return sum(o for (t, _), o in offsets.items() if t == settings.topic_raw) >= total
