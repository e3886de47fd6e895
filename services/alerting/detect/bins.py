"""Per-minute bins of scored mentions per brand and (brand, topic), closed by event time.

Pure: no I/O, no clock. A brand's bins close when its event-time watermark (latest
`created_at` seen) passes the bin end plus `lateness_s`; when a brand has been idle for
`idle_flush_s` of wall-clock time the watermark advances to the wall clock, so a quiet
brand's bins (zeros included) still reach the detectors. Every series of a brand (the
brand itself under topic "", and each crisis topic) emits one bin per minute, gaps filled
with empty bins, so the detectors see a regular series. A mention for a bin already
closed is late: it is dropped from the bins (and counted by the caller).

An `updated` event is not a new mention: it adds only the engagement its post gained since
last seen (`detect.spread`) to the bins of its arrival (`ingested_at`, or the first open
bin when that one is closed), so a post that goes viral hours later moves engagement
velocity then; it is never late, and it neither advances the watermark nor keeps the brand
from counting as idle.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.alerting.detect.alert import from_epoch, to_epoch
from services.alerting.detect.ratios import BURST_EMOTIONS
from services.alerting.detect.spread import SpreadLedger
from services.alerting.detect.velocity import weighted_engagement
from shared.schemas import ScoredMention

BRAND_TOPIC = ""  # topic key of the brand-level series (all topics)
MAX_BIN_STORIES = 32  # stories counted per bin; more in one minute go uncounted (bounded)


def markets_of(scored: ScoredMention) -> list[str]:
    """The mention's markets (set at ingest), else one its source metadata names."""
    m = scored.mention
    if m.markets:
        return list(m.markets)
    value = m.source.get("market") or m.source.get("country")
    return [value.upper()] if isinstance(value, str) and value else []


@dataclass(slots=True)
class Bin:
    """Aggregates of one series over one bin [start, start + bin_seconds)."""

    brand: str
    topic: str
    start: float
    seconds: int = 60
    count: int = 0
    negatives: int = 0
    scored: int = 0
    burst: int = 0
    neg_engagement: float = 0.0
    authors: Counter[str] = field(default_factory=Counter)
    author_reach: dict[str, int] = field(default_factory=dict)
    markets: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    platforms: Counter[str] = field(default_factory=Counter)
    last_ingested: float | None = None
    distinct_hint: int = 0  # distinct authors when only a rollup (no author ids) is known
    sentiment_sum: float = 0.0
    # "platform|language" -> [count, negatives, scored, sentiment sum] (rule filters)
    dims: dict[str, list[float]] = field(default_factory=dict)
    # story id -> [mentions, negatives]: which stories the bin's mentions belong to
    stories: dict[str, list[int]] = field(default_factory=dict)
    topics: Counter[str] = field(default_factory=Counter)
    emotions: Counter[str] = field(default_factory=Counter)

    @property
    def end(self) -> datetime:
        """The bin end, the timestamp the detectors are fed with."""
        return from_epoch(self.start + self.seconds)

    @property
    def distinct_authors(self) -> int:
        """Number of distinct authors in the bin."""
        return len(self.authors) or self.distinct_hint

    @property
    def top_author_share(self) -> float:
        """Share of the bin's posts written by its most active author."""
        if not self.count:
            return 0.0
        return max(self.authors.values(), default=0) / self.count

    def add(self, scored: ScoredMention) -> None:
        """Count one mention into the bin."""
        m = scored.mention
        self.count += 1
        dim = self.dims.setdefault(f"{m.platform}|{scored.language}", [0, 0, 0, 0.0])
        dim[0] += 1
        if scored.sentiment is not None:
            self.scored += 1
            self.sentiment_sum += scored.sentiment.score
            dim[2] += 1
            dim[3] += scored.sentiment.score
        if scored.emotion in BURST_EMOTIONS:
            self.burst += 1
        if scored.is_negative:
            self.negatives += 1
            dim[1] += 1
            self.neg_engagement += weighted_engagement(
                m.engagement.shares, m.engagement.replies, m.author_reach
            )
        self.authors[m.author_id] += 1
        if m.author_reach:
            self.author_reach[m.author_id] = max(
                m.author_reach, self.author_reach.get(m.author_id, 0)
            )
        for market in markets_of(scored):
            self.markets[market] += 1
        self.languages[scored.language] += 1
        self.platforms[m.platform] += 1
        self.topics.update(scored.topics)
        if scored.emotion:
            self.emotions[scored.emotion] += 1
        self._story(scored)
        self._ingested(m.ingested_at.timestamp())

    def _story(self, scored: ScoredMention) -> None:
        story = scored.story_id
        if not story or scored.story_background:  # a brand's ordinary talk is no story to page
            return
        held = self.stories.get(story)
        if held is None:
            if len(self.stories) >= MAX_BIN_STORIES:
                return
            held = self.stories[story] = [0, 0]
        held[0] += 1
        held[1] += int(scored.is_negative)

    def add_spread(self, gain: float, *, ingested: float) -> None:
        """Count engagement a negative post gained since last seen (an `updated` event)."""
        self.neg_engagement += gain
        self._ingested(ingested)

    def _ingested(self, ingested: float) -> None:
        self.last_ingested = max(self.last_ingested or ingested, ingested)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "brand": self.brand,
            "topic": self.topic,
            "start": self.start,
            "seconds": self.seconds,
            "count": self.count,
            "negatives": self.negatives,
            "scored": self.scored,
            "burst": self.burst,
            "neg_engagement": self.neg_engagement,
            "authors": dict(self.authors),
            "author_reach": dict(self.author_reach),
            "markets": dict(self.markets),
            "languages": dict(self.languages),
            "platforms": dict(self.platforms),
            "last_ingested": self.last_ingested,
            "distinct_hint": self.distinct_hint,
            "sentiment_sum": self.sentiment_sum,
            "dims": {k: list(v) for k, v in self.dims.items()},
            "stories": {k: list(v) for k, v in self.stories.items()},
            "topics": dict(self.topics),
            "emotions": dict(self.emotions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bin:
        """Rebuild from `to_dict` output."""
        return cls(
            brand=data["brand"],
            topic=data["topic"],
            start=float(data["start"]),
            seconds=int(data["seconds"]),
            count=int(data["count"]),
            negatives=int(data["negatives"]),
            scored=int(data["scored"]),
            burst=int(data["burst"]),
            neg_engagement=float(data["neg_engagement"]),
            authors=Counter(data["authors"]),
            author_reach=dict(data["author_reach"]),
            markets=Counter(data["markets"]),
            languages=Counter(data["languages"]),
            platforms=Counter(data["platforms"]),
            last_ingested=data["last_ingested"],
            distinct_hint=int(data.get("distinct_hint", 0)),
            sentiment_sum=float(data.get("sentiment_sum", 0.0)),
            dims={str(k): list(v) for k, v in data.get("dims", {}).items()},
            stories={str(k): [int(x) for x in v] for k, v in data.get("stories", {}).items()},
            topics=Counter(data.get("topics", {})),
            emotions=Counter(data.get("emotions", {})),
        )


@dataclass(slots=True)
class _BrandBins:
    next_start: float  # first bin start not emitted yet (same for every series of the brand)
    watermark: float
    last_arrival: float
    topics: set[str]
    open: dict[tuple[str, float], Bin] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # identities in open bins -> start
    spread: SpreadLedger = field(default_factory=SpreadLedger)


class BinAggregator:
    """Per-brand, per-minute bins closed by event time with a small allowed lateness."""

    def __init__(
        self,
        *,
        bin_seconds: int = 60,
        lateness_s: float = 20.0,
        idle_flush_s: float = 30.0,
        max_fill_bins: int = 1440,
        topics: Iterable[str] = (),
    ) -> None:
        self.bin_seconds = bin_seconds
        self.lateness_s = lateness_s
        self.idle_flush_s = idle_flush_s
        self.max_fill_bins = max_fill_bins
        self.topics = frozenset(topics)
        self._brands: dict[str, _BrandBins] = {}
        self.late = 0

    def bin_start(self, epoch: float) -> float:
        """Return the start of the bin containing `epoch`."""
        return math.floor(epoch / self.bin_seconds) * self.bin_seconds

    def brands(self) -> list[str]:
        """Brands with bins."""
        return list(self._brands)

    def knows(self, brand: str) -> bool:
        """True when the brand has bins (live or restored)."""
        return brand in self._brands

    def forget(self, brand: str) -> None:
        """Drop the brand's bins (its state lives on elsewhere)."""
        self._brands.pop(brand, None)

    def start_brand(self, brand: str, *, next_start: float, wall_now: float) -> None:
        """Begin a brand's series at `next_start` (after a rebuild or a restore)."""
        self._brands[brand] = _BrandBins(
            next_start=next_start,
            watermark=next_start,
            last_arrival=wall_now,
            topics={BRAND_TOPIC, *self.topics},
        )

    def add(self, scored: ScoredMention, *, wall_now: float) -> list[str]:
        """Count a mention into its brands' bins; return the brands for which it was late."""
        m = scored.mention
        if m.kind == "updated":
            self._add_update(scored, wall_now=wall_now)
            return []
        epoch = m.created_at.timestamp()
        start = self.bin_start(epoch)
        key = f"{m.platform}:{m.external_id}"
        late: list[str] = []
        for brand in dict.fromkeys(m.brands):
            state = self._brands.get(brand)
            if state is None:
                self.start_brand(brand, next_start=start, wall_now=wall_now)
                state = self._brands[brand]
            state.last_arrival = wall_now
            state.watermark = max(state.watermark, epoch)
            if start < state.next_start:
                late.append(brand)
                self.late += 1
                continue
            if key in state.seen:
                continue  # a replayed record already counted in an open bin
            state.seen[key] = start
            if scored.is_negative:
                state.spread.record(key, written=epoch, engagement=_spread_of(scored))
            for topic in (BRAND_TOPIC, *scored.topics):
                self._bin(state, brand, topic, start).add(scored)
        return late

    def _bin(self, state: _BrandBins, brand: str, topic: str, start: float) -> Bin:
        state.topics.add(topic)
        b = state.open.get((topic, start))
        if b is None:
            b = Bin(brand=brand, topic=topic, start=start, seconds=self.bin_seconds)
            state.open[(topic, start)] = b
        return b

    def _add_update(self, scored: ScoredMention, *, wall_now: float) -> None:
        """Count the engagement an `updated` post gained into the bins of its arrival."""
        m = scored.mention
        written = m.created_at.timestamp()
        arrival = max(m.ingested_at.timestamp(), written)
        key = f"{m.platform}:{m.external_id}"
        for brand in dict.fromkeys(m.brands):
            state = self._brands.get(brand)
            if state is None:
                self.start_brand(brand, next_start=self.bin_start(arrival), wall_now=wall_now)
                state = self._brands[brand]
            if not scored.is_negative:
                continue
            gain = state.spread.gain(
                key, written=written, engagement=_spread_of(scored), now=arrival
            )
            if gain <= 0:
                continue
            start = max(self.bin_start(arrival), state.next_start)
            for topic in (BRAND_TOPIC, *scored.topics):
                self._bin(state, brand, topic, start).add_spread(gain, ingested=arrival)

    def close(self, *, wall_now: float, brands: Iterable[str] | None = None) -> list[list[Bin]]:
        """Close every bin past its brand's watermark; return them grouped by minute, in order.

        Each group holds one bin per series of one brand for the same minute; `brands`
        limits the work to some brands.
        """
        out: list[list[Bin]] = []
        names = list(self._brands) if brands is None else [b for b in brands if b in self._brands]
        for brand in names:
            state = self._brands[brand]
            wm = state.watermark
            if wall_now - state.last_arrival >= self.idle_flush_s:
                wm = max(wm, wall_now)
            last = self.bin_start(wm - self.lateness_s) - self.bin_seconds  # last closable
            if last < state.next_start:
                continue
            starts = _fill(state.next_start, last, self.bin_seconds, self.max_fill_bins)
            nonempty = sorted({s for (_, s) in state.open if s <= last})
            for start in sorted(set(starts) | set(nonempty)):
                group = []
                for topic in sorted(state.topics):
                    b = state.open.pop((topic, start), None)
                    group.append(
                        b or Bin(brand=brand, topic=topic, start=start, seconds=self.bin_seconds)
                    )
                out.append(group)
            state.next_start = last + self.bin_seconds
            state.seen = {k: s for k, s in state.seen.items() if s >= state.next_start}
            state.spread.sweep(state.next_start)
        return out

    def to_dict(self, brand: str) -> dict[str, Any] | None:
        """Return a brand's open bins and position as a JSON-ready dict."""
        state = self._brands.get(brand)
        if state is None:
            return None
        return {
            "next_start": state.next_start,
            "watermark": state.watermark,
            "topics": sorted(state.topics),
            "open": [b.to_dict() for b in state.open.values()],
            "seen": dict(state.seen),
            "spread": state.spread.to_dict(),
        }

    def restore(self, brand: str, data: dict[str, Any], *, wall_now: float) -> None:
        """Restore a brand from `to_dict` output."""
        self.start_brand(brand, next_start=float(data["next_start"]), wall_now=wall_now)
        state = self._brands[brand]
        state.watermark = float(data["watermark"])
        state.topics |= set(data["topics"])
        for raw in data["open"]:
            b = Bin.from_dict(raw)
            state.open[(b.topic, b.start)] = b
        state.seen = {str(k): float(v) for k, v in data["seen"].items()}
        state.spread = SpreadLedger.from_dict(data.get("spread", {}))


def _spread_of(scored: ScoredMention) -> float:
    m = scored.mention
    return weighted_engagement(m.engagement.shares, m.engagement.replies, m.author_reach)


def _fill(first: float, last: float, step: int, max_bins: int) -> list[float]:
    """Return bin starts from `first` to `last`; only the last `max_bins` when the gap is long."""
    n = round((last - first) / step) + 1
    if n > max_bins:
        first = last - (max_bins - 1) * step
        n = max_bins
    return [first + i * step for i in range(n)]


def epoch_of(ts: datetime) -> float:
    """Return POSIX seconds of an aware or naive-UTC datetime."""
    return to_epoch(ts)
