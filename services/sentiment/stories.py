"""Stories in the sentiment worker: assign each enriched mention, keep the stories table.

Per-brand clustering state must see every mention of a brand in order, so it lives in the
worker process (enrichment runs in child processes that each see part of a batch): batches
are assigned here after enrichment, in the order they were polled (`mentions.raw` is keyed
by brand, so a brand's mentions keep their order within a partition).

What a story row sums (volume, negatives, first and last seen, languages) grows only with
mentions the store inserted, so a replayed batch changes nothing; its label (top phrases)
and its representative mention per language come from this process's memory of the story.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.sentiment.core.prepared import PreparedMention, with_story
from services.sentiment.core.stories import StoryClusterer, StoryParams
from shared import serde
from shared.db.engine import driver_connection

TOP_PHRASES = 5
_PHRASES_KEPT = 64  # per story, pruned to this when it doubles
_LABEL_PHRASES = 3


@dataclass
class _Memory:
    """What this process remembers of a story for its label and representatives."""

    phrases: Counter[str] = field(default_factory=Counter)
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

    def __init__(self, params: StoryParams | None = None, *, remembered: int = 20_000) -> None:
        self._clusterer = StoryClusterer(params)
        self._memory: OrderedDict[str, _Memory] = OrderedDict()
        self._remembered = remembered

    def assign(self, batch: Sequence[PreparedMention]) -> list[PreparedMention]:
        """`batch` with each mention's story set (mentions without a vector stay without)."""
        out = []
        for p in batch:
            if p.story is None:
                out.append(p)
                continue
            found = self._clusterer.assign(p.story)
            memory = self._remember(found.story_id)
            for old in found.merged:
                absorbed = self._memory.pop(old, None)
                if absorbed is not None:
                    memory.phrases.update(absorbed.phrases)
            memory.learn(p, 0.0 if found.opened else found.similarity)
            out.append(with_story(p, found.story_id, found.merged, found.background))
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
