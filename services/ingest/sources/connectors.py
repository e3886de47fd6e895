"""Runs the enabled connectors, restarting a failed one with back-off and all of them when
the watchlists change (so new subscriptions take effect without a restart). With leases
(the ingest service), a connector runs only while this replica holds its lease
(`leasing.py`), so N replicas run each connector once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any

from services.ingest.core.assess import Candidate
from services.ingest.lease_store import LeaseLost
from services.ingest.sources.base import Emit, Source, SourceContext
from services.ingest.sources.jetstream import JetstreamSource
from services.ingest.sources.leasing import ConnectorLeases, LeaseTerm
from services.ingest.sources.mastodon import MastodonSource
from services.ingest.sources.reddit import RedditSource
from services.ingest.sources.rss import RssSource
from services.ingest.sources.x_stream import XStreamSource
from shared.resilience import Backoff, wait_or_stop

log = logging.getLogger(__name__)

# The one registry of pull/stream connectors (Meta and pushes arrive over HTTP routes).
SOURCES: dict[str, type[Source]] = {
    "reddit": RedditSource,
    "rss": RssSource,
    "mastodon": MastodonSource,
    "bluesky": JetstreamSource,
    "x": XStreamSource,
}


def enabled_sources(context: SourceContext) -> list[Source]:
    """Connectors with something to follow that the settings do not disable."""
    disabled = set(context.settings.disabled_sources)
    sources = [cls(context) for name, cls in SOURCES.items() if name not in disabled]
    return [source for source in sources if source.wanted()]


def _emitter(context: SourceContext, name: str, stop: asyncio.Event) -> Emit:
    async def emit(items: Sequence[Candidate]) -> bool:
        return await context.ingestor.emit_until_accepted(items, source=name, stop=stop)

    return emit


async def supervise(source: Source, emit: Emit, stop: asyncio.Event) -> None:
    """Run `source` until `stop`; restart it with jittered back-off (5 s doubling) on failure."""
    scale = source.ctx.settings.backoff_scale
    backoff = Backoff(base_s=5.0 * scale, cap_s=320.0 * scale)
    while not stop.is_set():
        try:
            await source.run(emit, stop)
            return
        except LeaseLost as exc:
            # Another replica runs this connector now: stop, do not restart.
            log.warning("connector %s stopped: %s", source.name, exc)
            return
        except Exception:
            # One connector's failure (a bug, an unexpected payload) must not stop the
            # others or the push endpoint: log it with its traceback, count it, retry.
            log.exception("connector %s failed; restarting", source.name)
            source.ctx.count_error(source.name, "crashed")
            if await wait_or_stop(stop, backoff.next_delay()):
                return


async def run_connectors(
    context: SourceContext, stop: asyncio.Event, *, leases: ConnectorLeases | None = None
) -> None:
    """Run every enabled connector until `stop`; re-plan them after a watchlist reload.

    With `leases`, each one only while this replica holds its lease.
    """
    changed = context.watchlists.changed()
    while not stop.is_set():
        changed.clear()
        round_stop, replan = asyncio.Event(), asyncio.Event()
        sources = enabled_sources(context)
        log.info("connectors wanted: %s", ", ".join(s.name for s in sources) or "none")
        tasks = [
            asyncio.create_task(_run(s, context, round_stop, leases, keep=replan)) for s in sources
        ]
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(changed.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The service is torn down: its connectors must not outlive it (and a leased
            # one must not keep renewing a lease for a replica that is gone).
            for task in tasks:
                task.cancel()
            raise
        finally:
            for waiter in waiters:
                waiter.cancel()
        if not stop.is_set():
            replan.set()
        round_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _run(
    source: Source,
    context: SourceContext,
    stop: asyncio.Event,
    leases: ConnectorLeases | None,
    *,
    keep: asyncio.Event,
) -> Coroutine[Any, Any, None]:
    if leases is None:
        return supervise(source, _emitter(context, source.name, stop), stop)

    async def leased(term: LeaseTerm) -> None:
        # A fresh connector per grant, on the cursors only this grant may write.
        fenced = type(source)(replace(context, cursors=term.cursors))
        emit = term.guard(_emitter(context, source.name, term.stop))
        await supervise(fenced, emit, term.stop)

    # A re-plan after a watchlist reload (`keep` set) keeps the lease on this replica.
    return leases.run(source.name, leased, stop, keep=keep)
