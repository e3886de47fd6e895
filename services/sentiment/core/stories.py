"""Online story clustering: which story of its brand each mention is about.

Pure and incremental. Mentions arrive one at a time, in order; each joins the open story of
its brand whose centroid (a time-decayed sum of sentence vectors) it is closest to, or opens a
new one. Shared links, hashtags and quoted or replied-to posts add evidence: a reply or quote
of a post joins that post's story outright, a shared link or hashtag adds a bonus to the
similarity of the story that used it last. Memory is bounded: each brand keeps at most
`budget` open stories (the stalest is evicted), stories idle longer than `idle_s` close, and
the key indexes keep the most recent `max_keys` entries per brand.

The same input in the same order gives the same stories; a story's id is derived from its
brand and its first mention, so a replay reproduces the ids.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

_NAMESPACE = uuid.UUID("5d0c8c1e-6a0b-4d8f-9a55-2f1e3c1b7a10")
_FIRST_SLOTS = 8
_SLOT_ENTITIES = 256  # distinct entities counted per story (later new ones are not)
_URL = re.compile(r"(?:https?://|www\.)[^\s\"'<>]+", re.IGNORECASE)


def extract_urls(text: str) -> list[str]:
    """Links in a text, lower-cased and without a trailing punctuation mark."""
    return [u.rstrip(".,;:!?)]…").lower() for u in _URL.findall(text)]


def story_id_for(brand: str, first_key: str) -> str:
    """The id of the story of `brand` that `first_key` opened (a UUID, stable across replays)."""
    return str(uuid.uuid5(_NAMESPACE, f"{brand}\x1f{first_key}"))


@dataclass(frozen=True)
class StoryParams:
    """How mentions join stories; the defaults are the ones tuned on the dev events."""

    threshold: float = 0.15  # join when similarity (+ bonuses) reaches this
    half_life_s: float = 96 * 3600.0  # weight of a story's past mentions halves this often
    budget: int = 64  # open stories per brand
    idle_s: float = 3 * 86_400.0  # a story without mentions for this long closes
    hashtag_bonus: float = 0.2  # added when a hashtag was last used by the story
    url_bonus: float = 0.2  # added when a link was last shared by the story
    max_keys: int = 4_096  # entries kept per brand in each key index
    merge_threshold: float = 0.8  # two open stories whose centroids converge this far merge
    # What every mention of a brand shares (its name, its products) says nothing about which
    # story a mention is in: this share of the brand's mean vector is taken out of each
    # vector, growing in as the brand's history does (`background_warmup` mentions to half).
    background: float = 0.5
    background_warmup: int = 20
    # Named entities (places, organisations, people, hashtags, handles): a story's salient
    # ones are those in at least `entity_share` of its mentions (and `entity_min` of them).
    # A mention naming one adds `entity_bonus` x how specific the entity is to that story
    # (its share of the entity's mentions over the open stories); when the mention's
    # entities point clearly at some story (specificity >= 0.5), every other story with a
    # salient entity of its own that the mention does not name loses `entity_penalty`.
    # Entities in `entity_common` of the brand's mentions (its name, its products) are
    # ignored, like its mean vector.
    entity_bonus: float = 0.2
    entity_penalty: float = 0.0  # off by default: four of six held-out folds chose 0
    entity_share: float = 0.1
    entity_min: int = 2
    entity_common: float = 0.2

    def __post_init__(self) -> None:
        if not self.budget > 0:
            raise ValueError("budget must be positive")
        if self.half_life_s <= 0 or self.idle_s <= 0:
            raise ValueError("half_life_s and idle_s must be positive")


@dataclass(frozen=True)
class StoryMention:
    """What the clusterer reads of a mention."""

    key: str  # the mention's identity, e.g. "x:12345"
    brand: str
    at: float  # creation time, seconds since the epoch
    vector: np.ndarray  # unit-length sentence vector
    hashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()  # keys of the posts it replies to or quotes
    entities: tuple[str, ...] = ()  # folded named entities (see core.entities)


@dataclass(frozen=True)
class Assignment:
    """The story a mention joined."""

    story_id: str
    opened: bool  # True when this mention opened the story
    similarity: float  # to the story's centroid before joining (1.0 when it opened it)
    merged: tuple[str, ...] = ()  # stories that converged with this one and now are it


class _KeyIndex:
    """Most recent story slot per key, bounded (least recently used keys drop out)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def get(self, key: str) -> tuple[int, str] | None:
        return self._entries.get(key)

    def put(self, key: str, slot: int, story_id: str) -> None:
        self._entries[key] = (slot, story_id)
        self._entries.move_to_end(key)
        if len(self._entries) > self._limit:
            self._entries.popitem(last=False)


@dataclass
class _Brand:
    """The open stories of one brand, one slot each."""

    dim: int
    budget: int
    max_keys: int
    mean: np.ndarray = field(init=False)  # mean vector of every mention of the brand
    seen: int = 0
    sums: np.ndarray = field(init=False)  # decayed sum of vectors per slot
    unit: np.ndarray = field(init=False)  # the sums normalised (rows of zeros when empty)
    last: np.ndarray = field(init=False)  # last mention time per slot (-inf when empty)
    ids: list[str] = field(init=False)
    tags: _KeyIndex = field(init=False)
    urls: _KeyIndex = field(init=False)
    posts: _KeyIndex = field(init=False)
    # merged story id -> the story it merged into (bounded like the key indexes)
    merged: OrderedDict[str, str] = field(init=False)
    size: np.ndarray = field(init=False)  # mentions per slot since its story opened
    top: np.ndarray = field(init=False)  # mentions of the slot's most frequent entity
    entities: dict[str, dict[int, int]] = field(init=False)  # entity -> slot -> mentions
    slot_entities: list[set[str]] = field(init=False)  # the entities counted per slot
    mentions_of: OrderedDict[str, int] = field(init=False)  # entity -> brand mentions naming it

    def __post_init__(self) -> None:
        # Slots grow to `budget` as stories open: a quiet brand holds a few kilobytes.
        slots = min(_FIRST_SLOTS, self.budget)
        self.mean = np.zeros(self.dim, dtype=np.float32)
        self.sums = np.zeros((slots, self.dim), dtype=np.float32)
        self.unit = np.zeros((slots, self.dim), dtype=np.float32)
        self.last = np.full(slots, -np.inf)
        self.ids = [""] * slots
        self.tags = _KeyIndex(self.max_keys)
        self.urls = _KeyIndex(self.max_keys)
        self.posts = _KeyIndex(self.max_keys)
        self.merged = OrderedDict()
        self.size = np.zeros(slots)
        self.top = np.zeros(slots)
        self.entities = {}
        self.slot_entities = [set() for _ in range(slots)]
        self.mentions_of = OrderedDict()

    def grow(self) -> int | None:
        """Add slots (up to `budget`); the first new slot, or None when at the budget."""
        slots = len(self.ids)
        more = min(slots, self.budget - slots)
        if more <= 0:
            return None
        self.sums = np.vstack([self.sums, np.zeros((more, self.dim), dtype=np.float32)])
        self.unit = np.vstack([self.unit, np.zeros((more, self.dim), dtype=np.float32)])
        self.last = np.concatenate([self.last, np.full(more, -np.inf)])
        self.ids.extend([""] * more)
        self.size = np.concatenate([self.size, np.zeros(more)])
        self.top = np.concatenate([self.top, np.zeros(more)])
        self.slot_entities.extend(set() for _ in range(more))
        return slots

    def clear_entities(self, slot: int) -> None:
        """Forget what `slot`'s story counted (it is reused or merged away)."""
        for entity in self.slot_entities[slot]:
            counts = self.entities[entity]
            del counts[slot]
            if not counts:
                del self.entities[entity]
        self.slot_entities[slot] = set()
        self.size[slot] = 0.0
        self.top[slot] = 0.0

    def move_entities(self, source: int, target: int) -> None:
        """`source`'s entity counts and size added to `target`'s (a merge); `source` cleared."""
        for entity in self.slot_entities[source]:
            self.count_entities(target, (entity,), self.entities[entity][source])
        self.size[target] += self.size[source]
        self.clear_entities(source)

    def count_entities(self, slot: int, entities: Iterable[str], times: int = 1) -> None:
        """Count `entities` in `slot` (`times` mentions each), within the per-slot bound."""
        known = self.slot_entities[slot]
        for entity in entities:
            if entity not in known:
                if len(known) >= _SLOT_ENTITIES:
                    continue
                known.add(entity)
            counts = self.entities.setdefault(entity, {})
            counts[slot] = counts.get(slot, 0) + times
            self.top[slot] = max(self.top[slot], counts[slot])

    def live_slot(self, hit: tuple[int, str] | None) -> int | None:
        """The slot of the story an index entry names, following merges; None if gone."""
        if hit is None:
            return None
        slot, story_id = hit
        if self.ids[slot] == story_id:
            return slot
        for _ in range(len(self.merged)):
            if story_id not in self.merged:
                break
            story_id = self.merged[story_id]
        return self.ids.index(story_id) if story_id in self.ids else None

    def note_merge(self, old: str, new: str) -> None:
        self.merged[old] = new
        if len(self.merged) > self.max_keys:
            self.merged.popitem(last=False)


class StoryClusterer:
    """Assigns mentions to stories, per brand, in arrival order."""

    def __init__(self, params: StoryParams | None = None, *, dim: int = 512) -> None:
        self.params = params or StoryParams()
        self._dim = dim
        self._brands: dict[str, _Brand] = {}
        self._decay = math.log(2) / self.params.half_life_s

    def open_stories(self, brand: str) -> int:
        """How many stories of `brand` are in memory."""
        state = self._brands.get(brand)
        return 0 if state is None else sum(1 for i in state.ids if i)

    def assign(self, mention: StoryMention) -> Assignment:
        """Put `mention` in a story of its brand and return which."""
        p = self.params
        state = self._brands.get(mention.brand)
        if state is None:
            state = self._brands[mention.brand] = _Brand(self._dim, p.budget, p.max_keys)
        vector = self._foreground(state, np.asarray(mention.vector, dtype=np.float32).reshape(-1))
        entities = self._distinctive(state, _own_entities(mention))
        open_ = state.last >= mention.at - p.idle_s
        slot = self._referenced(state, mention.refs, open_)
        similarity = 1.0
        if slot is None and open_.any():
            scores = state.unit @ vector
            similarity_of = scores.copy()
            self._bonus(scores, state, state.tags, mention.hashtags, p.hashtag_bonus, open_)
            self._bonus(scores, state, state.urls, mention.urls, p.url_bonus, open_)
            self._entity_evidence(scores, state, entities, open_)
            scores[~open_] = -np.inf
            best = int(np.argmax(scores))
            if scores[best] >= p.threshold:
                slot, similarity = best, float(similarity_of[best])
        elif slot is not None:
            similarity = float(state.unit[slot] @ vector)
        opened = slot is None
        if slot is None:
            slot = self._free_slot(state, open_)
            state.ids[slot] = story_id_for(mention.brand, mention.key)
            state.sums[slot] = 0.0
            state.clear_entities(slot)
            state.last[slot] = mention.at
            similarity = 1.0
        self._join(state, slot, mention, vector)
        state.size[slot] += 1
        state.count_entities(slot, entities)
        merged = () if opened else self._merge_into(state, slot, open_)
        return Assignment(state.ids[slot], opened, round(similarity, 4), merged)

    def assign_all(self, mentions: Iterable[StoryMention]) -> list[Assignment]:
        """`assign` each mention in order."""
        return [self.assign(m) for m in mentions]

    def _foreground(self, state: _Brand, vector: np.ndarray) -> np.ndarray:
        """`vector` less its share of the brand's mean (unit length); the mean learns it."""
        state.seen += 1
        state.mean += (vector - state.mean) / state.seen
        p = self.params
        if not p.background or state.seen == 1:
            return vector
        share = p.background * (state.seen - 1) / (state.seen - 1 + p.background_warmup)
        rest = vector - share * state.mean
        norm = float(np.linalg.norm(rest))
        return rest / norm if norm > 1e-6 else vector

    @staticmethod
    def _referenced(state: _Brand, refs: tuple[str, ...], open_: np.ndarray) -> int | None:
        """The open story of a post this mention replies to or quotes, if known."""
        for ref in refs:
            slot = state.live_slot(state.posts.get(ref))
            if slot is not None and open_[slot]:
                return slot
        return None

    @staticmethod
    def _bonus(
        scores: np.ndarray,
        state: _Brand,
        index: _KeyIndex,
        keys: tuple[str, ...],
        bonus: float,
        open_: np.ndarray,
    ) -> None:
        """Add `bonus` once to each open story that last used one of `keys`."""
        if not bonus:
            return
        done: set[int] = set()
        for key in keys:
            slot = state.live_slot(index.get(key))
            if slot is not None and slot not in done and open_[slot]:
                scores[slot] += bonus
                done.add(slot)

    def _distinctive(self, state: _Brand, entities: tuple[str, ...]) -> tuple[str, ...]:
        """`entities` less those common to the brand's mentions; counts them (bounded)."""
        counts = state.mentions_of
        for entity in entities:
            counts[entity] = counts.get(entity, 0) + 1
            counts.move_to_end(entity)
        while len(counts) > state.max_keys:
            counts.popitem(last=False)
        p = self.params
        if state.seen <= p.background_warmup:
            return entities
        common = p.entity_common * state.seen
        return tuple(e for e in entities if counts[e] < common)

    def _entity_evidence(
        self, scores: np.ndarray, state: _Brand, entities: tuple[str, ...], open_: np.ndarray
    ) -> None:
        """Pull towards the stories the mention's entities are specific to; push from others."""
        p = self.params
        if not entities or not (p.entity_bonus or p.entity_penalty):
            return
        evidence = np.zeros(len(state.ids))
        for entity in entities:
            counts = state.entities.get(entity)
            if not counts:
                continue
            live = {slot: c for slot, c in counts.items() if open_[slot]}
            total = sum(live.values())
            for slot, c in live.items():
                if c >= p.entity_min and c >= p.entity_share * state.size[slot]:
                    evidence[slot] = max(evidence[slot], c / total)
        if not evidence.any():
            return
        scores += p.entity_bonus * evidence
        if p.entity_penalty and evidence.max() >= 0.5:
            confident = (state.top >= p.entity_min) & (state.top >= p.entity_share * state.size)
            scores[confident & open_ & (evidence == 0)] -= p.entity_penalty

    def _merge_into(self, state: _Brand, slot: int, open_: np.ndarray) -> tuple[str, ...]:
        """Fold open stories whose centroid is now close to `slot`'s into it (their ids)."""
        close = (state.unit @ state.unit[slot]) >= self.params.merge_threshold
        close &= open_
        close[slot] = False
        merged = []
        for other in map(int, np.flatnonzero(close)):
            elapsed = max(0.0, float(state.last[slot] - state.last[other]))
            state.sums[slot] += state.sums[other] * math.exp(-self._decay * elapsed)
            state.move_entities(other, slot)
            merged.append(state.ids[other])
            state.note_merge(state.ids[other], state.ids[slot])
            state.ids[other] = ""
            state.last[other] = -np.inf
            state.unit[other] = 0.0
        if merged:
            total = state.sums[slot]
            state.unit[slot] = total / max(float(np.linalg.norm(total)), 1e-12)
        return tuple(merged)

    @staticmethod
    def _free_slot(state: _Brand, open_: np.ndarray) -> int:
        """An empty or closed slot, else a new one, else the stalest open story's (evicted)."""
        if open_.all():
            grown = state.grow()
            if grown is not None:
                return grown
        return int(np.argmin(np.where(open_, state.last, -np.inf)))

    def _join(self, state: _Brand, slot: int, mention: StoryMention, vector: np.ndarray) -> None:
        elapsed = max(0.0, mention.at - float(state.last[slot]))
        total = state.sums[slot] * math.exp(-self._decay * elapsed) + vector
        state.sums[slot] = total
        norm = float(np.linalg.norm(total))
        state.unit[slot] = total / norm if norm > 0 else 0.0
        state.last[slot] = max(float(state.last[slot]), mention.at)
        story = state.ids[slot]
        for tag in mention.hashtags:
            state.tags.put(tag, slot, story)
        for url in mention.urls:
            state.urls.put(url, slot, story)
        state.posts.put(mention.key, slot, story)


def _own_entities(mention: StoryMention) -> tuple[str, ...]:
    """The mention's entities except its brand's own name (every story of the brand has it)."""
    brand = mention.brand.lower()
    return tuple(e for e in mention.entities if e.lstrip("#@") != brand)
