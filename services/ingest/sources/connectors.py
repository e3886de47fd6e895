"""Runs the enabled connectors, restarting a failed one with back-off and all of them when
the watchlists change (so new subscriptions take effect without a restart)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.ingest.core.assess import Candidate
from services.ingest.sources.base import Emit, Source, SourceContext
from services.ingest.sources.jetstream import JetstreamSource
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
        except Exception:
            # One connector's failure (a bug, an unexpected payload) must not stop the
            # others or the push endpoint: log it with its traceback, count it, retry.
            log.exception("connector %s failed; restarting", source.name)
            source.ctx.count_error(source.name, "crashed")
            if await wait_or_stop(stop, backoff.next_delay()):
                return


async def run_connectors(context: SourceContext, stop: asyncio.Event) -> None:
    """Run every enabled connector until `stop`; re-plan them after a watchlist reload."""
    changed = context.watchlists.changed()
    while not stop.is_set():
        changed.clear()
        round_stop = asyncio.Event()
        sources = enabled_sources(context)
        log.info("connectors running: %s", ", ".join(s.name for s in sources) or "none")
        tasks = [
            asyncio.create_task(supervise(s, _emitter(context, s.name, round_stop), round_stop))
            for s in sources
        ]
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(changed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        round_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
