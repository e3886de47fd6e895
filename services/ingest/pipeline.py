"""The path every connector shares: match brands, normalise, de-duplicate, publish.

Connectors hand over `MentionIn` candidates (or `Rejected` records they could not even
parse). Posts that mention no watched brand are dropped here and never reach Kafka.
Brand rule: with watchlists loaded, a mention's brands are the matched ones plus the
payload's brands that are watched (a Page owner's comments need not name the brand);
without watchlists the payload's brands are used as given.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from services.ingest.core.dedupe import SeenCache
from services.ingest.core.matching import Matcher
from services.ingest.core.normalize import MentionIn, to_mention
from services.ingest.core.watchlist import WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import MentionPublisher
from shared import serde
from shared.errors import BrokerUnavailable
from shared.resilience import Backoff, wait_or_stop
from shared.schemas import Engagement, Mention
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record a connector could not turn into a `MentionIn`: dead-lettered with `reason`."""

    raw: bytes
    reason: str
    code: str = "invalid_payload"


Candidate = MentionIn | Rejected


def fingerprint(mention: Mention) -> int:
    """What makes a re-seen mention worth an `updated` event: its text and engagement."""
    return content_digest(mention.text, mention.engagement)


def content_digest(text: str, e: Engagement) -> int:
    """A keyed-free stable digest of text and counts (replay computes it in worker processes)."""
    data = f"{e.likes}/{e.shares}/{e.replies}/{e.views}/{text}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def resolve_brands(item: MentionIn, matcher: Matcher, *, configured: bool) -> list[str]:
    """Matched brands plus the payload's watched brands; the payload's alone when unwatched."""
    given = list(dict.fromkeys(b for b in item.brands if b))
    if not configured:
        return given
    matched = matcher.match(item.text)
    watched = set(matcher.brands)
    return list(dict.fromkeys([*matched, *(b for b in given if b in watched)]))


class Ingestor:
    """Shared by the push endpoint and every connector of one ingest process."""

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
        self._secret = settings.pseudonym_secret.get_secret_value().encode()
        self._seen = SeenCache(max_items=settings.dedupe_max_items, ttl_s=settings.dedupe_ttl_s)
        self._matcher = Matcher([])
        self._matcher_version = -1

    @property
    def matcher(self) -> Matcher:
        """The matcher of the current watchlist version (rebuilt after a reload)."""
        if self._matcher_version != self.watchlists.version:
            self._matcher = Matcher(self.watchlists.watchlists)
            self._matcher_version = self.watchlists.version
        return self._matcher

    def resolve(self, item: MentionIn) -> list[str]:
        """The brands `item` is about (see the module docstring for the rule)."""
        return resolve_brands(item, self.matcher, configured=self.watchlists.configured)

    def normalise(
        self, item: MentionIn, brands: list[str], *, created_at: datetime | None = None
    ) -> Mention:
        """`to_mention` with this process's settings."""
        return to_mention(
            item,
            brands=brands,
            created_at=created_at,
            secret=self._secret,
            keep_handles=self.settings.keep_raw_handles,
            max_chars=self.settings.max_text_chars,
        )

    def is_new(self, identity: tuple[str, str], digest: int) -> bool | None:
        """True: never seen; False: seen with other content (an update); None: a repeat."""
        known = self._seen.get(identity)
        if known is None:
            return True
        return None if known == digest else False

    def remember_identity(self, identity: tuple[str, str], digest: int) -> None:
        """Mark one produced mention as seen (for callers holding encoded events)."""
        self._seen.put(identity, digest)

    def dedupe(self, mentions: Sequence[Mention], *, source: str) -> list[Mention]:
        """Drop unchanged repeats; a known mention with new text or counts becomes `updated`."""
        fresh: dict[tuple[str, str], Mention] = {}
        for mention in mentions:
            known = self._seen.get(mention.identity)
            if known == fingerprint(mention):
                self.metrics.duplicates.labels(source).inc()
                continue
            if known is not None and mention.kind == "created":
                mention = mention.model_copy(update={"kind": "updated"})
            previous = fresh.get(mention.identity)
            if previous is not None and fingerprint(previous) == fingerprint(mention):
                self.metrics.duplicates.labels(source).inc()
                continue
            fresh[mention.identity] = mention
        return list(fresh.values())

    def remember(self, mentions: Sequence[Mention]) -> None:
        """Mark `mentions` as produced (call only after Kafka acknowledged them)."""
        for mention in mentions:
            self._seen.put(mention.identity, fingerprint(mention))

    def prepare(
        self, items: Sequence[Candidate], *, source: str
    ) -> tuple[list[Mention], list[Rejected]]:
        """Match, normalise and de-duplicate candidates (no I/O)."""
        mentions: list[Mention] = []
        rejects: list[Rejected] = []
        for item in items:
            if isinstance(item, Rejected):
                rejects.append(item)
                continue
            brands = self.resolve(item)
            if not brands:
                self.metrics.unmatched.labels(source).inc()
                continue
            try:
                mentions.append(self.normalise(item, brands))
            except ValidationError as exc:
                raw = serde.dumps(item.model_dump(mode="json"))
                rejects.append(Rejected(raw, serde.describe_validation_error(exc), "invalid_value"))
            except ValueError as exc:
                raw = serde.dumps(item.model_dump(mode="json"))
                rejects.append(Rejected(raw, str(exc), "invalid_value"))
        return self.dedupe(mentions, source=source), rejects

    async def emit(self, items: Sequence[Candidate], *, source: str) -> int:
        """Publish the relevant new mentions and dead-letter the rejects.

        Raises `BrokerUnavailable` when Kafka refuses; nothing is remembered then, so the
        caller may retry the same items from its cursor.
        """
        if not items:
            return 0
        self.publisher.count_received(source, len(items))
        mentions, rejects = self.prepare(items, source=source)
        for reject in rejects:
            await self.publisher.reject(reject.raw, reject.reason, source=source, code=reject.code)
        sent = await self.publisher.publish(mentions, source=source)
        self.remember(mentions)
        return sent

    async def emit_until_accepted(
        self, items: Sequence[Candidate], *, source: str, stop: asyncio.Event
    ) -> bool:
        """`emit`, pausing (bounded jittered back-off) while Kafka is down; False if stopped."""
        scale = self.settings.backoff_scale
        backoff = Backoff(base_s=0.5 * scale, cap_s=30.0 * scale)
        while not stop.is_set():
            try:
                await self.emit(items, source=source)
                return True
            except BrokerUnavailable as exc:
                self.metrics.source_errors.labels(source, "kafka_unavailable").inc()
                delay = backoff.next_delay()
                log.warning("%s: Kafka unavailable, pausing %.1fs: %s", source, delay, exc)
                if await wait_or_stop(stop, delay):
                    return False
        return False
