"""The clusterer's memory of one brand: its open stories, their entities, recent members.

Bounded: at most `budget` story slots, `max_keys` entries per key index, 256 distinct
entities counted per story, and the brand's last `recent` mentions (for story splits).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable

import numpy as np

from services.sentiment.core.places import is_place

_FIRST_SLOTS = 8
_FIRST_RECENT = 64
_SLOT_ENTITIES = 256  # distinct entities counted per story (later new ones are not)
IDENTITY_MAX = 64  # entities kept in a story's identity
FIT_MEMORY = 64  # members a story's fit statistics average over (exponentially)


class KeyIndex:
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

    def repoint(self, keys: Iterable[str], old: int, slot: int, story_id: str) -> None:
        """Entries of `keys` that name slot `old` name `slot` (its recency unchanged)."""
        for key in keys:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == old:
                self._entries[key] = (slot, story_id)

    def items(self) -> list[tuple[str, tuple[int, str]]]:
        """Every entry, least recently used first."""
        return list(self._entries.items())

    def keys_of(self, slot: int) -> list[str]:
        """The keys whose entry names `slot`."""
        return [key for key, (s, _) in self._entries.items() if s == slot]


class BrandState:
    """The open stories of one brand, one slot each, and the brand's recent mentions."""

    def __init__(self, dim: int, budget: int, max_keys: int, recent: int) -> None:
        # Slots and the recent ring grow as needed: a quiet brand holds a few kilobytes.
        slots = min(_FIRST_SLOTS, budget)
        self.dim, self.budget, self.max_keys, self.recent = dim, budget, max_keys, recent
        self.mean = np.zeros(dim, dtype=np.float32)  # mean vector of every brand mention
        self.seen = 0
        self.sums = np.zeros((slots, dim), dtype=np.float32)  # decayed vector sum per slot
        self.unit = np.zeros((slots, dim), dtype=np.float32)  # the sums normalised
        self.last = np.full(slots, -np.inf)  # last mention time per slot (-inf when empty)
        self.born = np.full(slots, np.inf)  # when each slot's story opened
        self.background: tuple[int, str] | None = None  # the brand's (core.story_background)
        self.ids = [""] * slots
        self.tags = KeyIndex(max_keys)
        self.urls = KeyIndex(max_keys)
        self.posts = KeyIndex(max_keys)
        # merged story id -> the story it merged into (bounded like the key indexes)
        self.merged: OrderedDict[str, str] = OrderedDict()
        self.size = np.zeros(slots)  # mentions per slot since its story opened
        self.top = np.zeros(slots)  # mentions of the slot's most frequent entity
        self.placed = np.zeros(slots)  # country tokens counted (core.places), all countries
        # how well members fit: running mean and variance of their similarity on joining
        self.fit_n = np.zeros(slots)
        self.fit_mean = np.zeros(slots)
        self.fit_var = np.zeros(slots)
        self.entities: dict[str, dict[int, int]] = {}  # entity -> slot -> mentions
        self.slot_entities: list[set[str]] = [set() for _ in range(slots)]
        self.identity: list[set[str]] = [set() for _ in range(slots)]  # see core.story_split
        # per slot: entity -> the story's mentions naming it together with the identity
        self.linked: list[Counter[str]] = [Counter() for _ in range(slots)]
        self.founding: list[set[str]] = [set() for _ in range(slots)]  # its first mentions'
        self.mentions_of: OrderedDict[str, int] = OrderedDict()  # entity -> brand mentions
        # The brand's last `recent` mentions: story slot (-1 once gone), time, foreground
        # vector, distinctive entities and key, written round-robin.
        first = min(_FIRST_RECENT, recent)
        self.ring_slot = np.full(first, -1, dtype=np.int64)
        self.ring_seq = np.full(first, -1, dtype=np.int64)
        self.ring_at = np.zeros(first)
        self.ring_vec = np.zeros((first, dim), dtype=np.float32)
        self.ring_entities: list[tuple[str, ...]] = [()] * first
        self.ring_key: list[str] = [""] * first
        self.written = 0

    def grow(self) -> int | None:
        """Add slots (up to `budget`); the first new slot, or None when at the budget."""
        slots = len(self.ids)
        more = min(slots, self.budget - slots)
        if more <= 0:
            return None
        self.sums = np.vstack([self.sums, np.zeros((more, self.dim), dtype=np.float32)])
        self.unit = np.vstack([self.unit, np.zeros((more, self.dim), dtype=np.float32)])
        self.last = np.concatenate([self.last, np.full(more, -np.inf)])
        self.born = np.concatenate([self.born, np.full(more, np.inf)])
        self.ids.extend([""] * more)
        self.size = np.concatenate([self.size, np.zeros(more)])
        self.top = np.concatenate([self.top, np.zeros(more)])
        self.placed = np.concatenate([self.placed, np.zeros(more)])
        self.fit_n = np.concatenate([self.fit_n, np.zeros(more)])
        self.fit_mean = np.concatenate([self.fit_mean, np.zeros(more)])
        self.fit_var = np.concatenate([self.fit_var, np.zeros(more)])
        self.slot_entities.extend(set() for _ in range(more))
        self.identity.extend(set() for _ in range(more))
        self.linked.extend(Counter() for _ in range(more))
        self.founding.extend(set() for _ in range(more))
        return slots

    def reset(self, slot: int, story_id: str, at: float) -> None:
        """`slot` holds a new story from `at` on (what it held is forgotten)."""
        self.ids[slot] = story_id
        self.sums[slot] = 0.0
        self.unit[slot] = 0.0
        self.last[slot] = at
        self.born[slot] = at
        self.clear_entities(slot)
        self.ring_slot[self.ring_slot == slot] = -1

    def clear_entities(self, slot: int) -> None:
        """Forget what `slot`'s story counted (it is reused or merged away)."""
        for entity in self.slot_entities[slot]:
            counts = self.entities[entity]
            del counts[slot]
            if not counts:
                del self.entities[entity]
        self.slot_entities[slot] = set()
        self.identity[slot] = set()
        self.linked[slot] = Counter()
        self.founding[slot] = set()
        self.size[slot] = 0.0
        self.top[slot] = 0.0
        self.placed[slot] = 0.0
        self.fit_n[slot] = self.fit_mean[slot] = self.fit_var[slot] = 0.0

    def move_entities(self, source: int, target: int) -> None:
        """`source`'s entity counts, size, identity and recent members go to `target` (a
        merge); `source` is cleared."""
        # Most named first, then by name: when the target's bound is reached, what it keeps
        # does not depend on the order a set happens to iterate in (string hashing varies
        # from process to process).
        moved = sorted(self.slot_entities[source], key=lambda e: (-self.entities[e][source], e))
        for entity in moved:
            self.count_entities(target, (entity,), self.entities[entity][source])
        self.size[target] += self.size[source]
        identity = self.identity[target] | self.identity[source]
        self.identity[target] = set(sorted(identity)[:IDENTITY_MAX])
        self.linked[target].update(self.linked[source])
        self.founding[target] |= self.founding[source]
        self.ring_slot[self.ring_slot == source] = target
        self.clear_entities(source)

    def learn_fit(self, slot: int, similarity: float) -> None:
        """Count a member's similarity on joining in `slot`'s fit (its last `FIT_MEMORY`
        weigh most)."""
        n = self.fit_n[slot] = min(self.fit_n[slot] + 1, FIT_MEMORY)
        delta = similarity - self.fit_mean[slot]
        self.fit_mean[slot] += delta / n
        self.fit_var[slot] += (delta * (similarity - self.fit_mean[slot]) - self.fit_var[slot]) / n

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
            if is_place(entity):
                self.placed[slot] += times

    def count_links(self, slot: int, entities: tuple[str, ...]) -> None:
        """Count `entities` as named with `slot`'s identity when the mention names it."""
        if any(e in self.identity[slot] and not e.startswith("@") for e in entities):
            known, linked = self.slot_entities[slot], self.linked[slot]
            for entity in entities:
                if entity in known:
                    linked[entity] += 1

    def told(self, slot: int, entity: str) -> tuple[int, int]:
        """Mentions of `slot`'s story naming `entity`, and those naming it with the identity."""
        return self.entities.get(entity, {}).get(slot, 0), self.linked[slot][entity]

    def uncount_entities(self, slot: int, entities: Iterable[str], times: int = 1) -> None:
        """Take `times` mentions of each of `entities` off `slot`'s counts."""
        for entity in entities:
            counts = self.entities.get(entity)
            if counts is None or slot not in counts:
                continue
            taken = min(times, counts[slot])
            counts[slot] -= taken
            if is_place(entity):
                self.placed[slot] -= taken
            self.linked[slot][entity] = max(0, self.linked[slot][entity] - times)
            if counts[slot] <= 0:
                del counts[slot]
                del self.linked[slot][entity]
                self.slot_entities[slot].discard(entity)
                if not counts:
                    del self.entities[entity]

    def recount_top(self, slot: int) -> None:
        """`top` of `slot` after counts went down."""
        counts = (self.entities[e][slot] for e in self.slot_entities[slot])
        self.top[slot] = max(counts, default=0)

    def remember(
        self, slot: int, key: str, at: float, vector: np.ndarray, entities: tuple[str, ...]
    ) -> None:
        """Keep the mention among the brand's recent ones (the oldest drops out)."""
        if self.written >= len(self.ring_slot) and len(self.ring_slot) < self.recent:
            more = min(len(self.ring_slot), self.recent - len(self.ring_slot))
            self.ring_slot = np.concatenate([self.ring_slot, np.full(more, -1)])
            self.ring_seq = np.concatenate([self.ring_seq, np.full(more, -1)])
            self.ring_at = np.concatenate([self.ring_at, np.zeros(more)])
            self.ring_vec = np.vstack([self.ring_vec, np.zeros((more, self.dim), np.float32)])
            self.ring_entities.extend([()] * more)
            self.ring_key.extend([""] * more)
        i = self.written % len(self.ring_slot)
        self.ring_slot[i], self.ring_seq[i], self.ring_at[i] = slot, self.written, at
        self.ring_vec[i] = vector
        self.ring_entities[i], self.ring_key[i] = entities, key
        self.written += 1

    def members(self, slot: int, limit: int) -> np.ndarray:
        """Ring positions of `slot`'s last `limit` recent members, oldest first."""
        positions = np.flatnonzero(self.ring_slot == slot)
        order = np.argsort(self.ring_seq[positions], kind="stable")
        return positions[order][-limit:]

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
