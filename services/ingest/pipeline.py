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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal, NamedTuple

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
from shared.resilience import Backoff, wait_or_stop
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)

Status = Literal["accepted", "duplicate", "unmatched", "invalid"]
STATUSES: tuple[Status, ...] = ("accepted", "duplicate", "unmatched", "invalid")


class Outcome(NamedTuple):
    """What became of one item; `reason` says why it was not produced (unmatched, invalid)."""

    # A tuple, not a dataclass: replay builds one per record, 50k and more per second.
    status: Status
    platform: str | None = None
    external_id: str | None = None
    reason: str | None = None


def tally(outcomes: Iterable[Outcome]) -> dict[Status, int]:
    """How many items had each status (every status present, zeros included)."""
    counts = Counter(map(itemgetter(0), outcomes))  # C speed: replay tallies every record
    return {status: counts[status] for status in STATUSES}


_ASSESSED = (Ready, Unmatched, Rejected)


@dataclass(slots=True)
class _Batch:
    """One `accept` call's decisions, before any I/O."""

    outcomes: list[Outcome] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    messages: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, Mention JSON)
    fresh: dict[tuple[str, str], int] = field(default_factory=dict)  # identity -> digest
    unmatched: int = 0
    duplicates: int = 0


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
        self.publisher.count_received(source, len(items))
        batch = self._sort(items)
        # Dead letters first: when Kafka fails midway nothing valid was produced yet, so the
        # caller's "nothing accepted, retry" holds (a retry never loses an invalid item).
        for reject in batch.rejects:
            await self.publisher.reject(reject.raw, reject.reason, source=source, code=reject.code)
        await self.publisher.publish_encoded(batch.messages, source=source)
        for identity, digest in batch.fresh.items():
            self._seen.put(identity, digest)
        self.metrics.unmatched.labels(source).inc(batch.unmatched)
        self.metrics.duplicates.labels(source).inc(batch.duplicates)
        return batch.outcomes

    def _sort(self, items: Sequence[Candidate | Assessment]) -> _Batch:
        """Assess `items` and decide each one's outcome (no I/O; nothing remembered yet)."""
        assess = self.assessor.assess
        seen = self._seen.get
        batch = _Batch()
        outcomes, fresh = batch.outcomes, batch.fresh
        for item in items:
            found = item if isinstance(item, _ASSESSED) else assess(item)
            if type(found) is Ready:
                identity = (found.platform, found.external_id)
                known = fresh.get(identity)
                if known is None:
                    known = seen(identity)
                if known == found.digest:
                    batch.duplicates += 1
                    outcomes.append(Outcome("duplicate", *identity))
                    continue
                fresh[identity] = found.digest
                value = found.value if known is None else _as_update(found.value)
                batch.messages.append((found.key, value))
                outcomes.append(Outcome("accepted", *identity))
            elif type(found) is Unmatched:
                batch.unmatched += 1
                outcomes.append(Outcome("unmatched", *found, reason=UNMATCHED))
            else:
                assert isinstance(found, Rejected)
                batch.rejects.append(found)
                outcomes.append(Outcome("invalid", reason=found.reason))
        return batch

    async def emit_until_accepted(
        self, items: Sequence[Candidate], *, source: str, stop: asyncio.Event
    ) -> bool:
        """`accept`, pausing (bounded jittered back-off) while Kafka is down; False if stopped.

        The items are assessed once: every attempt sends the same bytes, so the producer can
        skip what an attempt it gave up on was still able to deliver.
        """
        scale = self.settings.backoff_scale
        backoff = Backoff(base_s=0.5 * scale, cap_s=30.0 * scale)
        assess = self.assessor.assess
        assessed = [item if isinstance(item, _ASSESSED) else assess(item) for item in items]
        while not stop.is_set():
            try:
                await self.accept(assessed, source=source)
                return True
            except BrokerUnavailable as exc:
                self.metrics.source_errors.labels(source, "kafka_unavailable").inc()
                delay = backoff.next_delay()
                log.warning("%s: Kafka unavailable, pausing %.1fs: %s", source, delay, exc)
                if await wait_or_stop(stop, delay):
                    return False
        return False
