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
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from services.sentiment.core.places import is_place
from services.sentiment.core.story_background import (
    BackgroundRule,
    background_slot,
    beyond_brand,
    typical,
)
from services.sentiment.core.story_params import StoryParams
from services.sentiment.core.story_split import SplitRule, find_split, split_off, told_elsewhere
from services.sentiment.core.story_state import BrandState, KeyIndex

_NAMESPACE = uuid.UUID("5d0c8c1e-6a0b-4d8f-9a55-2f1e3c1b7a10")
_URL = re.compile(r"(?:https?://|www\.)[^\s\"'<>]+", re.IGNORECASE)


def extract_urls(text: str) -> list[str]:
    """Links in a text, lower-cased and without a trailing punctuation mark."""
    return [u.rstrip(".,;:!?)]…").lower() for u in _URL.findall(text)]


def story_id_for(brand: str, first_key: str) -> str:
    """The id of the story of `brand` that `first_key` opened (a UUID, stable across replays)."""
    return str(uuid.uuid5(_NAMESPACE, f"{brand}\x1f{first_key}"))


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
    background: bool = False  # the story is the brand's background (never an incident's)


class StoryClusterer:
    """Assigns mentions to stories, per brand, in arrival order."""

    def __init__(self, params: StoryParams | None = None, *, dim: int = 512) -> None:
        self.params = params or StoryParams()
        self._dim = dim
        self._brands: dict[str, BrandState] = {}
        self._decay = math.log(2) / self.params.half_life_s
        p = self.params
        self._rule = SplitRule(
            p.entity_min, p.entity_share, p.split_link, p.split_share, p.split_min
        )
        self._background = BackgroundRule(
            p.background_likeness,
            p.background_least,
            p.background_age_s,
            p.background_spread,
            p.entity_min,
            p.entity_share,
            p.entity_common,
        )

    def open_stories(self, brand: str) -> int:
        """How many stories of `brand` are in memory."""
        state = self._brands.get(brand)
        return 0 if state is None else sum(1 for i in state.ids if i)

    @property
    def dims(self) -> tuple[int, int, int, int]:
        """Vector size, budget, keys per index and recent mentions: what a saved state of a
        brand must have been made with (`core.story_snapshot`)."""
        p = self.params
        return (self._dim, p.budget, p.max_keys, p.recent)

    def state_of(self, brand: str) -> BrandState | None:
        """The clustering state of `brand` (None before its first mention)."""
        return self._brands.get(brand)

    def adopt(self, brand: str, state: BrandState) -> None:
        """Go on from `state` for `brand` (a saved state restored), replacing what is held."""
        self._brands[brand] = state

    def forget(self, brand: str) -> None:
        """Drop what is held of `brand` (another worker holds it now)."""
        self._brands.pop(brand, None)

    def assign(self, mention: StoryMention) -> Assignment:
        """Put `mention` in a story of its brand and return which."""
        p = self.params
        state = self._brands.get(mention.brand)
        if state is None:
            state = self._brands[mention.brand] = BrandState(
                self._dim, p.budget, p.max_keys, p.recent
            )
        vector = self._foreground(state, np.asarray(mention.vector, dtype=np.float32).reshape(-1))
        entities = self._distinctive(state, _own_entities(mention))
        open_ = state.last >= mention.at - p.idle_s
        slot = self._referenced(state, mention.refs, open_)
        similarity = 1.0
        background = background_slot(state, open_, self._background, mention.at)
        if slot is None and open_.any():
            scores = state.unit @ vector
            similarity_of = scores.copy()
            self._bonus(scores, state, state.tags, mention.hashtags, p.hashtag_bonus, open_)
            self._bonus(scores, state, state.urls, mention.urls, p.url_bonus, open_)
            self._entity_evidence(scores, state, entities, open_)
            self._place_evidence(scores, state, entities, open_)
            if p.recent_bonus and state.written:
                scores += p.recent_bonus * self._recent_share(state)
            scores[~open_] = -np.inf
            if background is not None:
                scores[background] = -np.inf  # it does not compete by similarity
            best = int(np.argmax(scores))
            joins = scores[best] >= p.threshold and not self._novel(
                state, best, entities, float(scores[best])
            )
            if background is not None:
                # A mention no closer to a story than to the brand's ordinary talk is not
                # that story's: it joins the background when it fits it, else opens one.
                fit = float(similarity_of[background])
                joins = (
                    joins
                    and scores[best] > fit
                    and beyond_brand(state, best, vector, p.background_beyond)
                )
                if not joins and typical(state, background, fit, self._background):
                    slot, similarity = background, fit
            if joins:
                slot, similarity = best, float(similarity_of[best])
        elif slot is not None:
            similarity = float(state.unit[slot] @ vector)
        opened = slot is None
        if slot is None:
            slot = self._free_slot(state, open_)
            state.reset(slot, story_id_for(mention.brand, mention.key), mention.at)
            similarity = 1.0
        else:
            state.learn_fit(slot, similarity)
        self._join(state, slot, mention, vector)
        state.size[slot] += 1
        state.count_entities(slot, entities)
        state.count_links(slot, entities)
        if state.size[slot] <= p.split_mature:
            state.founding[slot].update(entities)
        state.remember(slot, mention.key, mention.at, vector, entities)
        size = state.size[slot]
        checked = bool(p.split_every) and size >= p.split_mature and size % p.split_every == 0
        if checked:
            split = self._split(state, slot, mention.brand, open_)
            if split is not None:
                # The mention itself may be one of the second story's.
                return Assignment(state.ids[split], False, round(similarity, 4))
        merged = () if opened else self._merge_into(state, slot, open_, background, checked)
        return Assignment(state.ids[slot], opened, round(similarity, 4), merged, slot == background)

    def assign_all(self, mentions: Iterable[StoryMention]) -> list[Assignment]:
        """`assign` each mention in order."""
        return [self.assign(m) for m in mentions]

    def _foreground(self, state: BrandState, vector: np.ndarray) -> np.ndarray:
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
    def _referenced(state: BrandState, refs: tuple[str, ...], open_: np.ndarray) -> int | None:
        """The open story of a post this mention replies to or quotes, if known."""
        for ref in refs:
            slot = state.live_slot(state.posts.get(ref))
            if slot is not None and open_[slot]:
                return slot
        return None

    @staticmethod
    def _bonus(
        scores: np.ndarray,
        state: BrandState,
        index: KeyIndex,
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

    def _distinctive(self, state: BrandState, entities: tuple[str, ...]) -> tuple[str, ...]:
        """`entities` less those common to the brand's mentions, but countries (they never
        pull, and tell the story a brand is full of from the next); counts them (bounded)."""
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
        return tuple(e for e in entities if counts[e] < common or is_place(e))

    def _entity_evidence(
        self, scores: np.ndarray, state: BrandState, entities: tuple[str, ...], open_: np.ndarray
    ) -> None:
        """Pull towards the stories the mention's entities are specific to; push from others."""
        p = self.params
        if not entities or not (p.entity_bonus or p.entity_penalty):
            return
        evidence = np.zeros(len(state.ids))
        for entity in entities:
            counts = state.entities.get(entity)
            if not counts or is_place(entity):
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

    def _place_evidence(
        self, scores: np.ndarray, state: BrandState, entities: tuple[str, ...], open_: np.ndarray
    ) -> None:
        """Push from the open stories placed in other countries than the mention's."""
        p = self.params
        places = [e for e in entities if is_place(e)]
        if not p.place_penalty or not places:
            return
        placed = state.placed
        salient = open_ & (placed >= p.entity_min) & (placed >= p.entity_share * state.size)
        if not salient.any():
            return
        shared = np.zeros(len(state.ids))
        for place in places:
            for slot, count in state.entities.get(place, {}).items():
                shared[slot] += count
        scores[salient & (shared < p.place_share * placed)] -= p.place_penalty

    def _recent_share(self, state: BrandState) -> np.ndarray:
        """Each slot's members among the brand's last `recent_window` mentions, over
        `recent_window` (a young brand's stories have fewer, so less to gain)."""
        window = self.params.recent_window
        recent = (state.ring_seq >= state.written - window) & (state.ring_slot >= 0)
        counts = np.bincount(state.ring_slot[recent], minlength=len(state.ids))
        return counts[: len(state.ids)] / window

    def _novel(self, state: BrandState, slot: int, entities: tuple[str, ...], score: float) -> bool:
        """Whether a mention naming only places/organisations `slot`'s story never counted
        joins it by too small a margin (it then opens a story of its own)."""
        p = self.params
        if not p.novel_margin or score >= p.threshold + p.novel_margin:
            return False
        names = [e for e in entities if not e.startswith("@")]
        return bool(names) and all(slot not in state.entities.get(e, {}) for e in names)

    def _merge_into(
        self,
        state: BrandState,
        slot: int,
        open_: np.ndarray,
        background: int | None = None,
        named: bool = False,
    ) -> tuple[str, ...]:
        """Fold open stories whose centroid is now close to `slot`'s into it (their ids);
        when `named`, also those `merge_named` close that share a name of its identity. The
        brand's `background` story neither merges nor is merged."""
        if slot == background:
            return ()
        similarity = state.unit @ state.unit[slot]
        close = similarity >= self.params.merge_threshold
        p = self.params
        if named and p.merge_named < p.merge_threshold:
            names = [e for e in state.identity[slot] if not e.startswith("@") and not is_place(e)]
            for other in map(int, np.flatnonzero(similarity >= p.merge_named)):
                close[other] |= any(
                    e in state.identity[other] and self._known(state, e, slot, other) for e in names
                )
        close &= open_
        close[slot] = False
        if background is not None:
            close[background] = False
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

    def _split(self, state: BrandState, slot: int, brand: str, open_: np.ndarray) -> int | None:
        """Split a second story off `slot`'s (core.story_split) if its recent members tell
        one; the slot the latest mention is in then, or None when nothing split."""
        p = self.params
        members = state.members(slot, p.split_window)
        identity, group = find_split(
            [state.ring_entities[i] for i in members],
            state.identity[slot],
            self._rule,
            lambda entity: state.told(slot, entity),
            state.founding[slot],
        )
        state.identity[slot] = identity
        if not group:
            return None
        if self._would_merge(state, slot, group):
            return None
        latest = int(members[-1])
        # A group another open story already tells goes there; else it opens a story.
        target = told_elsewhere(state, slot, group, open_, p.entity_min)
        story_id = None
        if target is None:
            target = self._free_slot(state, open_)
            if target == slot:
                return None
            first = next(
                state.ring_key[int(i)]
                for i in members
                if not group.isdisjoint(state.ring_entities[i])
            )
            story_id = story_id_for(brand, f"{first}\x1esplit")
        moved = split_off(state, slot, target, group, self._decay, story_id)
        return target if latest in moved else slot

    def _would_merge(self, state: BrandState, slot: int, group: frozenset[str]) -> bool:
        """Whether the two parts of a split would be close enough to merge again."""
        identity = state.identity[slot]
        parts = [np.zeros(self._dim, dtype=np.float32), np.zeros(self._dim, dtype=np.float32)]
        for i in state.members(slot, self.params.split_window):
            entities = state.ring_entities[int(i)]
            moves = not group.isdisjoint(entities) and identity.isdisjoint(entities)
            parts[moves] += state.ring_vec[int(i)]
        norms = float(np.linalg.norm(parts[0]) * np.linalg.norm(parts[1]))
        return norms > 0 and float(parts[0] @ parts[1]) / norms >= self.params.merge_threshold

    def _known(self, state: BrandState, entity: str, *slots: int) -> bool:
        """Whether each of `slots`' stories names `entity` in `merge_name_share` of its
        mentions (and `entity_min` of them)."""
        counts = state.entities.get(entity, {})
        p = self.params
        return all(
            counts.get(s, 0) >= max(p.entity_min, p.merge_name_share * state.size[s]) for s in slots
        )

    @staticmethod
    def _free_slot(state: BrandState, open_: np.ndarray) -> int:
        """An empty or closed slot, else a new one, else the stalest open story's (evicted)."""
        if open_.all():
            grown = state.grow()
            if grown is not None:
                return grown
        return int(np.argmin(np.where(open_, state.last, -np.inf)))

    def _join(
        self, state: BrandState, slot: int, mention: StoryMention, vector: np.ndarray
    ) -> None:
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
