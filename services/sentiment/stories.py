"""Stories in the sentiment worker: assign each enriched mention, keep the stories table.

Per-brand clustering state must see every mention of a brand in order, so it lives in the
worker process (enrichment runs in child processes that each see part of a batch): batches
are assigned here after enrichment, in the order they were polled (`mentions.raw` is keyed
by brand, so a brand's mentions keep their order within a partition).

What a story row sums (volume, negatives, first and last seen, languages) grows only with
mentions the store inserted, so a replayed batch changes nothing; its label (top phrases)
and its representative mention per language come from this process's memory of the story.

The clustering state of each brand with new mentions is saved every `save_s` (table
`story_states`, `core.story_snapshot`) and restored before a brand's first mention in a
process, and again when the brand was quiet here for `recheck_s` and another worker saved
it since (its partition moved away and back): an ongoing story keeps its id across
restarts and partition moves, so it keeps its incident. A brand is also saved after the
batch in which one of its stories reaches `urgent_size` mentions in this process or absorbs
another (a merge): a story big enough to be paged is in a save within a batch of growing
that big, so a crash cannot re-open it under a new id. What else was assigned after the
last save is not in a restored state (up to `save_s` of mentions: small stories' first
mentions and the centroids' latest moves; the worker assigns a batch ahead of storing the
one before, so a save may also hold one batch not yet committed).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.sentiment.core.prepared import PreparedMention, with_story
from services.sentiment.core.stories import StoryClusterer, StoryParams
from services.sentiment.core.story_snapshot import SnapshotError, dump_state, load_state
from shared import serde
from shared.db.engine import driver_connection, transaction
from shared.resilience import DB_ERRORS, describe_db_error

log = logging.getLogger(__name__)

TOP_PHRASES = 5
_PHRASES_KEPT = 64  # per story, pruned to this when it doubles
_LABEL_PHRASES = 3
# Brand states saved after one stored batch: about 5 ms each for a busy brand (1.2 MB).
SAVES_PER_BATCH = 16


@dataclass
class _Memory:
    """What this process remembers of a story for its label and representatives."""

    phrases: Counter[str] = field(default_factory=Counter)
    size: int = 0  # mentions this process put in the story (and in stories merged into it)
    # language -> (similarity to the centroid on joining, mention key, text excerpt)
    representatives: dict[str, tuple[float, str, str]] = field(default_factory=dict)

    def learn(self, p: PreparedMention, similarity: float) -> None:
        self.phrases.update(p.keywords)
        if len(self.phrases) > 2 * _PHRASES_KEPT:
            self.phrases = Counter(dict(self.phrases.most_common(_PHRASES_KEPT)))
        held = self.representatives.get(p.language)
        if held is None or similarity > held[0]:
            assert p.story is not None
            self.representatives[p.language] = (similarity, p.story.key, p.excerpt)

    def top(self) -> list[str]:
        return [phrase for phrase, _ in self.phrases.most_common(TOP_PHRASES)]


class StoryAssigner:
    """Clusters prepared mentions into stories and writes the stories table."""

    def __init__(
        self,
        params: StoryParams | None = None,
        *,
        remembered: int = 20_000,
        save_s: float = 0.0,
        recheck_s: float = 60.0,
        urgent_size: int = 0,
        clock: Callable[[], float] = time.monotonic,
        dim: int = 512,
    ) -> None:
        self._clusterer = StoryClusterer(params, dim=dim)
        self._memory: OrderedDict[str, _Memory] = OrderedDict()
        self._remembered = remembered
        self.save_s, self._recheck_s, self._clock = save_s, recheck_s, clock
        self._urgent_size = urgent_size  # a story this big is saved at once (0: off)
        self._seen: dict[str, float] = {}  # brand -> when this process last held its state
        self._versions: dict[str, int] = {}  # brand -> saved version this process holds
        self._dirty: set[str] = set()  # brands with mentions since their last save
        self._urgent: set[str] = set()  # of those, brands to save without waiting for a round
        self._saved_at = clock()
        self._draining = False  # a round of saves is under way (`states` with a limit)

    def to_check(self, brands: Iterable[str]) -> list[str]:
        """Of `brands`, those whose saved state may be newer than what is held here: not
        held yet, or quiet here for `recheck_s` (sorted; none when saving is off)."""
        if not self.save_s:
            return []
        now = self._clock()
        return sorted(
            b for b in set(brands) if now - self._seen.get(b, -float("inf")) >= self._recheck_s
        )

    def restore(self, checked: Iterable[str], saved: Iterable[tuple[str, bytes, int]]) -> int:
        """Go on from the `saved` (brand, state, version) states of `checked` brands unless
        the version held here is that one; how many were restored. A state that cannot be
        restored (other settings) is skipped with a warning: the brand starts afresh."""
        now = self._clock()
        for brand in checked:
            self._seen[brand] = now
        restored = 0
        for brand, data, version in saved:
            if self._versions.get(brand) == version:
                continue
            try:
                state = load_state(data, dims=self._clusterer.dims)
            except SnapshotError as exc:
                log.warning("story state of %s not restored: %s", brand, exc)
                continue
            self._clusterer.adopt(brand, state)
            self._versions[brand] = version
            self._dirty.discard(brand)
            restored += 1
        return restored

    def save_due(self, *, now: bool = False) -> bool:
        """True when saving is on, a brand changed since its save and `save_s` passed since
        the last round of saves began (or one is under way, or `now`: the worker stops), or
        a brand is urgent (a story of it reached `urgent_size` or absorbed another)."""
        return bool(self.save_s and self._dirty) and (
            now or bool(self._urgent) or self._round_due()
        )

    def _round_due(self) -> bool:
        return self._draining or self._clock() - self._saved_at >= self.save_s

    def states(
        self, limit: int | None = None, *, held: Callable[[str], bool] | None = None
    ) -> list[tuple[str, bytes]]:
        """The states of up to `limit` brands changed since their last save, urgent ones
        first, as bytes (a round of saves spreads over several calls, so no call blocks the
        loop long; between rounds only urgent brands are taken). Taken: call `saved` with
        their versions once stored, or `unsaved` when storing failed. A brand that `held`
        says this worker no longer holds is forgotten, not saved: its new holder saves it."""
        whole = limit is None or self._round_due()
        if whole and not self._draining:
            self._saved_at = self._clock()
        urgent = sorted(self._urgent & self._dirty)
        rest = sorted(self._dirty - self._urgent) if whole else []
        taken = [*urgent, *rest][:limit]
        self._dirty.difference_update(taken)
        self._urgent.difference_update(taken)
        self._draining = whole and bool(self._dirty) and limit is not None
        out = []
        for brand in taken:
            state = self._clusterer.state_of(brand)
            if held is not None and not held(brand):
                self._forget(brand)
            elif state is not None:
                out.append((brand, dump_state(state)))
        return out

    def forget_all(self) -> None:
        """Drop every brand's state (a rebalance: each is restored from its save on its next
        mention, by whichever worker holds it then)."""
        for brand in {*self._seen, *self._versions, *self._dirty, *self._urgent}:
            self._forget(brand)
        self._draining = False

    def _forget(self, brand: str) -> None:
        self._clusterer.forget(brand)
        self._seen.pop(brand, None)
        self._versions.pop(brand, None)
        self._dirty.discard(brand)
        self._urgent.discard(brand)

    def saved(self, versions: Iterable[tuple[str, int]]) -> None:
        """Record the versions the states were stored as."""
        self._versions.update(versions)

    def unsaved(self, brands: Iterable[str], *, urgent: bool = False) -> None:
        """Storing these brands' states failed: save them with the next ones (`urgent`: at
        the next call, as those that were urgent)."""
        brands = set(brands)
        self._dirty.update(brands)
        if urgent:
            self._urgent.update(brands)

    def urgent(self) -> frozenset[str]:
        """The brands to save without waiting for the next round."""
        return frozenset(self._urgent)

    def assign(self, batch: Sequence[PreparedMention]) -> list[PreparedMention]:
        """`batch` with each mention's story set (mentions without a vector stay without)."""
        out = []
        brands, urgent = set(), set()
        for p in batch:
            if p.story is None:
                out.append(p)
                continue
            found = self._clusterer.assign(p.story)
            brands.add(p.story.brand)
            memory = self._remember(found.story_id)
            size = memory.size
            for old in found.merged:
                absorbed = self._memory.pop(old, None)
                if absorbed is not None:
                    memory.phrases.update(absorbed.phrases)
                    memory.size += absorbed.size
            memory.size += 1
            memory.learn(p, 0.0 if found.opened else found.similarity)
            if found.merged or size < self._urgent_size <= memory.size:
                urgent.add(p.story.brand)
            out.append(with_story(p, found.story_id, found.merged, found.background))
        if self.save_s and brands:  # to save, and held here now (once per batch)
            self._dirty |= brands
            if self._urgent_size:
                self._urgent |= urgent
            now = self._clock()
            self._seen.update(dict.fromkeys(brands, now))
        return out

    def _remember(self, story_id: str) -> _Memory:
        memory = self._memory.get(story_id)
        if memory is None:
            memory = self._memory[story_id] = _Memory()
            if len(self._memory) > self._remembered:
                self._memory.popitem(last=False)
        else:
            self._memory.move_to_end(story_id)
        return memory

    def rows(self, stored: Sequence[PreparedMention]) -> list[tuple[object, ...]]:
        """Upsert rows for the stories of newly stored mentions (`_UPSERT` order)."""
        sums: dict[str, _Sum] = {}
        for p in stored:
            if p.story_id is None or p.story is None:
                continue
            at = datetime.fromtimestamp(p.story.at, UTC)
            total = sums.get(p.story_id)
            if total is None:
                total = sums[p.story_id] = _Sum(p.story.brand, at, at)
            total.add(at, p.label == "negative", p.language)
            total.background |= p.background
        out: list[tuple[object, ...]] = []
        for story_id, total in sums.items():
            memory = self._memory.get(story_id) or _Memory()
            top = memory.top()
            representatives = {
                language: {"mention": key, "text": text, "similarity": round(similarity, 4)}
                for language, (similarity, key, text) in memory.representatives.items()
            }
            out.append((
                story_id, total.brand, " · ".join(top[:_LABEL_PHRASES]), top,
                sorted(total.languages), total.first, total.last, total.volume, total.negative,
                serde.dumps(representatives).decode(), total.background,
            ))  # fmt: skip
        return out


@dataclass
class _Sum:
    """What a batch adds to one story row."""

    brand: str
    first: datetime
    last: datetime
    volume: int = 0
    negative: int = 0
    languages: set[str] = field(default_factory=set)
    background: bool = False  # the brand's background story

    def add(self, at: datetime, negative: bool, language: str) -> None:
        self.first, self.last = min(self.first, at), max(self.last, at)
        self.volume += 1
        self.negative += int(negative)
        self.languages.add(language)


_UPSERT = """
INSERT INTO stories (id, brand, label, top_phrases, languages, first_seen, last_seen, volume,
                     negative, representatives, background)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
ON CONFLICT (id) DO UPDATE SET
    label = CASE WHEN EXCLUDED.label = '' THEN stories.label ELSE EXCLUDED.label END,
    top_phrases = CASE WHEN cardinality(EXCLUDED.top_phrases) = 0 THEN stories.top_phrases
                       ELSE EXCLUDED.top_phrases END,
    languages = ARRAY(SELECT DISTINCT l FROM unnest(stories.languages || EXCLUDED.languages) l
                      ORDER BY l),
    first_seen = LEAST(stories.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(stories.last_seen, EXCLUDED.last_seen),
    volume = stories.volume + EXCLUDED.volume,
    negative = stories.negative + EXCLUDED.negative,
    representatives = stories.representatives || EXCLUDED.representatives,
    background = stories.background OR EXCLUDED.background,
    updated_at = now()
"""
_MERGE = "UPDATE stories SET merged_into = $2, updated_at = now() WHERE id = $1"
_SAVE_STATE = """
INSERT INTO story_states (brand, state, writer) VALUES ($1, $2, $3)
ON CONFLICT (brand) DO UPDATE SET state = EXCLUDED.state, writer = EXCLUDED.writer,
    version = story_states.version + 1, saved_at = now()
RETURNING version
"""
_LOAD_STATES = "SELECT brand, state, version FROM story_states WHERE brand = ANY($1::text[])"


async def store_stories(
    session: AsyncSession, assigner: StoryAssigner, stored: Sequence[PreparedMention]
) -> int:
    """Grow the stories of `stored` (newly inserted mentions) and record merges; row count."""
    rows = assigner.rows(stored)
    merges = [(old, p.story_id) for p in stored if p.merged for old in p.merged]
    if not rows and not merges:
        return 0
    conn = await driver_connection(session)
    if rows:
        await conn.executemany(_UPSERT, rows)
    if merges:
        await conn.executemany(_MERGE, merges)
    return len(rows)


async def load_states(session: AsyncSession, brands: Sequence[str]) -> list[tuple[str, bytes, int]]:
    """The saved clustering states of `brands` that have one: (brand, state, version)."""
    conn = await driver_connection(session)
    rows = await conn.fetch(_LOAD_STATES, list(brands))
    return [(r["brand"], bytes(r["state"]), int(r["version"])) for r in rows]


async def save_states(
    session: AsyncSession, states: Sequence[tuple[str, bytes]], writer: str
) -> list[tuple[str, int]]:
    """Store the `states` (brand, bytes) as saved by `writer`; (brand, version) of each."""
    conn = await driver_connection(session)
    out = []
    for brand, data in states:
        out.append((brand, int(await conn.fetchval(_SAVE_STATE, brand, data, writer))))
    return out


async def restore_states(
    engine: AsyncEngine, assigner: StoryAssigner, batch: Sequence[PreparedMention]
) -> int:
    """Before `batch` is assigned: restore the saved states of its brands that this process
    may not hold yet (`StoryAssigner.to_check`); how many were restored."""
    brands = assigner.to_check(p.story.brand for p in batch if p.story is not None)
    if not brands:
        return 0
    async with transaction(engine) as session:
        saved = await load_states(session, brands)
    return assigner.restore(brands, saved)


async def save_due_states(
    engine: AsyncEngine,
    assigner: StoryAssigner,
    writer: str,
    *,
    now: bool = False,
    held: Callable[[str], bool] | None = None,
) -> int:
    """Save the changed brands' states when due (`now`: at once), but not those of brands
    `held` says the worker no longer holds; how many were saved. A failure is logged and
    they are saved with the next ones: stories go on in memory."""
    if not assigner.save_due(now=now):
        return 0
    urgent = assigner.urgent()
    states = assigner.states(None if now else SAVES_PER_BATCH, held=held)
    try:
        async with transaction(engine) as session:
            versions = await save_states(session, states, writer)
    except DB_ERRORS as exc:
        taken = {brand for brand, _ in states}
        assigner.unsaved(taken - urgent)
        assigner.unsaved(taken & urgent, urgent=True)
        log.warning("story states not saved (%s); retried at the next save", describe_db_error(exc))
        return 0
    assigner.saved(versions)
    return len(versions)
