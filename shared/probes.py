"""Liveness and readiness of a worker (sentiment, alerting), served by its metrics server.

Workers have no HTTP app; their `MetricsServer` answers `/healthz` and `/readyz` from its
own thread with these answers, in the body format of the apps' routes (`shared.http.health`):

- liveness: the worker's event loop runs a no-op within `timeout_s` (a blocked or dead loop
  fails it); it never checks a dependency.
- readiness: PostgreSQL answers `SELECT 1`, Kafka a metadata request (both checked on the
  worker's loop) and the worker is consuming (its consumer joined and its loop runs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.http.health import CHECK_TIMEOUT_S, Dependency, check_kafka, check_postgres, judge

Answer = tuple[int, dict[str, Any]]
REQUIRED: frozenset[Dependency] = frozenset({"kafka", "postgres", "consumer"})


class WorkerProbes:
    """What `/healthz` and `/readyz` of one worker answer; thread-safe to query."""

    def __init__(
        self, *, bootstrap_servers: str, engine: AsyncEngine, timeout_s: float = CHECK_TIMEOUT_S
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._engine = engine
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consuming = False

    def attach(self) -> None:
        """Bind to the running event loop (call from the worker's loop before serving)."""
        self._loop = asyncio.get_running_loop()

    def set_consuming(self, consuming: bool) -> None:
        """Mark the worker consuming (its consumer joined) or not (starting, stopping)."""
        self._consuming = consuming

    def liveness(self) -> Answer:
        """200 `{"status": "ok"}` while the event loop answers, else 503 with the reason."""
        problem = self._on_loop(asyncio.sleep(0), self._timeout_s)
        if problem is None:
            return 200, {"status": "ok"}
        return 503, {"status": "unavailable", "detail": problem}

    def readiness(self) -> Answer:
        """200 when PostgreSQL, Kafka and the consumer are all ok, else 503; the body
        lists each check."""
        checks: dict[str, str] = {}
        problem = self._on_loop(self._check(checks), self._timeout_s + 1)
        if problem is not None:
            checks = {name: f"unavailable: {problem}" for name in ("kafka", "postgres")}
        checks["consumer"] = "ok" if self._consuming else "unavailable: not consuming"
        answer = judge(checks, REQUIRED)
        return (200 if answer.ready else 503), answer.model_dump()

    async def _check(self, into: dict[str, str]) -> None:
        kafka, postgres = await asyncio.gather(
            check_kafka(self._bootstrap), check_postgres(self._engine)
        )
        into["kafka"], into["postgres"] = kafka, postgres

    def _on_loop(self, coro: Any, timeout_s: float) -> str | None:
        """Run `coro` on the worker's loop from another thread; None, or what went wrong."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            return "event loop not running"
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            return "event loop not running"
        try:
            future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return f"event loop did not answer within {timeout_s:g}s"
        return None
