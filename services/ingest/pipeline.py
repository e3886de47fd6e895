"""The one ingest path: every source (push, Meta webhooks, connectors, replay) calls `accept`.

`Ingestor.accept(items, source=...)` assesses each item (`core/assess.py`: parse, match
brands, normalise), drops unchanged repeats, dead-letters the invalid ones with their reason,
publishes the rest to `mentions.raw` and answers one `Outcome` per item, in order:

- `accepted`: produced (a known mention with new text or counts is produced as `updated`);
- `duplicate`: an unchanged repeat of a mention already produced; not produced again;
- `unmatched`: names no watched brand; counted, not produced, not dead-lettered;
- `invalid`: dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from services.ingest.core.assess import (
    UNMATCHED,
    AssessConfig,
    Assessment,
    Assessor,
    Candidate,
    Ready,
    Rejected,
    Unmatched,
)
from services.ingest.core.dedupe import SeenCache
from services.ingest.core.watchlist import WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MentionPublisher
from shared.errors import BrokerUnavailable
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "unmatched", "invalid"]
STATUSES: tuple[Status, ...] = ("accepted", "duplicate", "unmatched", "invalid")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one item; `reason` says why it was not produced (unmatched, invalid)."""

    status: Status
    platform: str | None = None
    external_id: str | None = None
    reason: str | None = None


def tally(outcomes: Iterable[Outcome]) -> dict[Status, int]:
    """How many items had each status (every status present, zeros included)."""
    counts = Counter(o.status for o in outcomes)
    return {status: counts[status] for status in STATUSES}


_ASSESSED = (Ready, Unmatched, Rejected)


def _as_update(value: bytes) -> bytes:
    return orjson.dumps({**orjson.loads(value), "kind": "updated"})


class Ingestor:
    """The ingest path of one process, shared by all its sources."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        publisher: MentionPublisher,
        watchlists: WatchlistStore,
        metrics: IngestMetrics,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.watchlists = watchlists
        self.metrics = metrics
        self._seen = SeenCache(max_items=settings.dedupe_max_items, ttl_s=settings.dedupe_ttl_s)
        self._assessor: Assessor | None = None
        self._assessor_version = -1

    def assess_config(self) -> AssessConfig:
        """The assessment configuration of the current watchlists and settings."""
        settings = self.settings
        return AssessConfig(
            watchlists=tuple(self.watchlists.watchlists),
            configured=self.watchlists.configured,
            secret=settings.pseudonym_secret.get_secret_value().encode(),
            keep_handles=settings.keep_raw_handles,
            max_chars=settings.max_text_chars,
        )

    @property
    def assessor(self) -> Assessor:
        """The assessor of the current watchlist version (rebuilt after a reload)."""
        if self._assessor is None or self._assessor_version != self.watchlists.version:
            self._assessor = Assessor(self.assess_config())
            self._assessor_version = self.watchlists.version
        return self._assessor

    async def accept(
        self, items: Sequence[Candidate | Assessment], *, source: str
    ) -> list[Outcome]:
        """Assess, de-duplicate, dead-letter and publish `items`; one outcome per item.

        Already assessed items (replay's worker processes) are taken as they are. Raises
        `BrokerUnavailable` when Kafka refuses: nothing is remembered then, so the caller
        may send the same items again (a retry may dead-letter an invalid item twice).
        """
        if not items:
            return []
        assessor = self.assessor
        self.publisher.count_received(source, len(items))
        outcomes: list[Outcome] = []
        rejects: list[Rejected] = []
        pending: list[tuple[bytes, bytes]] = []
        fresh: dict[tuple[str, str], int] = {}
        for item in items:
            found = item if isinstance(item, _ASSESSED) else assessor.assess(item)
            if isinstance(found, Rejected):
                rejects.append(found)
                outcomes.append(Outcome("invalid", reason=found.reason))
                continue
            if isinstance(found, Unmatched):
                outcomes.append(
                    Outcome("unmatched", found.platform, found.external_id, reason=UNMATCHED)
                )
                continue
            identity = (found.platform, found.external_id)
            known = fresh.get(identity)
            if known is None:
                known = self._seen.get(identity)
            if known == found.digest:
                outcomes.append(Outcome("duplicate", found.platform, found.external_id))
                continue
            fresh[identity] = found.digest
            pending.append((found.key, found.value if known is None else _as_update(found.value)))
            outcomes.append(Outcome("accepted", found.platform, found.external_id))
        # Dead letters first: when Kafka fails midway nothing valid was produced yet, so the
        # caller's "nothing accepted, retry" holds (a retry never loses an invalid item).
        for reject in rejects:
            await self.publisher.reject(reject.raw, reject.reason, source=source, code=reject.code)
        await self.publisher.publish_encoded(pending, source=source)
        for identity, digest in fresh.items():
            self._seen.put(identity, digest)
        counts = tally(outcomes)
        self.metrics.unmatched.labels(source).inc(counts["unmatched"])
        self.metrics.duplicates.labels(source).inc(counts["duplicate"])
        return outcomes

    async def emit_until_accepted(
        self, items: Sequence[Candidate], *, source: str, stop: asyncio.Event
    ) -> bool:
        """`accept`, pausing (with a bounded back-off) while Kafka is down; False if stopped."""
        scale = self.settings.backoff_scale
        delay = 0.5 * scale
        while not stop.is_set():
            try:
                await self.accept(items, source=source)
                return True
            except BrokerUnavailable as exc:
                self.metrics.source_errors.labels(source, "kafka_unavailable").inc()
                log.warning("%s: Kafka unavailable, pausing %.1fs: %s", source, delay, exc)
                if await wait_or_stop(stop, delay):
                    return False
                delay = min(delay * 2, 30.0 * scale)
        return False


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; return True when stopping."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
