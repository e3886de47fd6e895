"""Story splits: one story found to be telling two, by the names its mentions carry.

A mention that arrives before any of its names is known anywhere joins a story by what it
says alone: the first tweets about floods in Calgary join the story of the floods in
Queensland, and later Calgary tweets follow them there. A story therefore keeps an
*identity*: the entities salient in its first mentions, grown by every entity that its
mentions name together with the identity's names (not its @handles: a news account posts
about every story) and by every name sharing a word with one of them. When the story's
recent members carry a salient group of entities that is seldom named with the identity
(`split_link`) and that none of its first mentions named, and the mentions naming that
group and nothing of the identity are a good share of the recent members (`split_share`),
the group is a second story: an open story that already names it, or a new one, takes
those members' vectors and entity counts, and later mentions naming it are drawn to it.
Decisions use only the past; a mention's story is fixed when it arrives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from services.sentiment.core.story_state import IDENTITY_MAX, BrandState
from shared.text import fold


@dataclass(frozen=True)
class SplitRule:
    """When a story's recent members are a second story (see the module docstring)."""

    entity_min: int  # mentions naming an entity before it is salient
    entity_share: float  # share of the recent members naming an entity before it is salient
    link: float  # an entity named with the identity this often (share of its mentions) is it
    share: float  # share of the recent members the second story needs
    least: int  # and at least this many of them


def find_split(
    members: Sequence[tuple[str, ...]],
    identity: set[str],
    rule: SplitRule,
    told: Callable[[str], tuple[int, int]] = lambda _: (0, 0),
    founding: frozenset[str] | set[str] = frozenset(),
) -> tuple[set[str], frozenset[str]]:
    """The identity grown by the recent `members` (entity tuples, oldest first), and the
    entities of a second story among them (empty when there is none). `told(entity)` gives
    the whole story's mentions naming it, and those naming it with the identity; an entity
    in `founding` (named by the story's first mentions) never starts a second story."""
    counts = Counter(chain.from_iterable(members))
    names = identity_names(identity)
    linked = Counter(chain.from_iterable(es for es in members if not names.isdisjoint(es)))
    floor = max(rule.entity_min, rule.entity_share * len(members))
    salient = sorted(e for e, c in counts.items() if c >= floor)
    if not identity:
        return set(salient[:IDENTITY_MAX]), frozenset()
    grown = set(identity)
    # A name that shares a word with one of its own ("colorado springs", "northern italy",
    # "costa rica usgs") is the story's.
    words = {w for e in names for w in e.lstrip("#").split()}
    for entity in salient:
        if len(grown) < IDENTITY_MAX and (
            _linked(entity, linked, counts, told, rule.link)
            or not words.isdisjoint(entity.lstrip("#@").split())
        ):
            grown.add(entity)
    others = [e for e in salient if e not in grown and e not in founding]
    if not others:
        return grown, frozenset()
    group = _with_seed(members, others, counts, rule.link)
    taken = sum(1 for es in members if not group.isdisjoint(es) and grown.isdisjoint(es))
    if taken and taken >= max(rule.least, rule.share * len(members)):
        return grown, group
    return grown, frozenset()


def identity_names(identity: set[str]) -> set[str]:
    """What links an entity to a story: its identity less @handles (a news account posts
    about every story; naming it with a place says nothing about the place)."""
    return {e for e in identity if not e.startswith("@")}


def _with_seed(
    members: Sequence[tuple[str, ...]], others: list[str], counts: Counter[str], link: float
) -> frozenset[str]:
    """The most named of `others` and those connected to it by being named together (in at
    least `link` of the mentions of the less named of two): the second story's entities."""
    pairs: Counter[tuple[str, str]] = Counter()
    wanted = set(others)
    for entities in members:
        present = sorted(wanted.intersection(entities))
        pairs.update((a, b) for i, a in enumerate(present) for b in present[i + 1 :])
    seed = max(others, key=lambda e: (counts[e], e))
    group, frontier = {seed}, [seed]
    while frontier:
        current = frontier.pop()
        for other in others:
            pair = (current, other) if current < other else (other, current)
            if other not in group and pairs[pair] >= link * min(counts[current], counts[other]):
                group.add(other)
                frontier.append(other)
    return frozenset(group)


def _linked(
    entity: str,
    linked: Counter[str],
    counts: Counter[str],
    told: Callable[[str], tuple[int, int]],
    link: float,
) -> bool:
    """Whether `entity` is named with the identity often enough, recently or ever."""
    total, with_identity = told(entity)
    return linked[entity] >= link * counts[entity] or (total > 0 and with_identity >= link * total)


def split_off(
    state: BrandState,
    slot: int,
    target: int,
    group: frozenset[str],
    decay: float,
    story_id: str | None = None,
) -> list[int]:
    """Move `slot`'s recent members that name `group` and none of its identity to the story
    in slot `target` (vectors, entity counts, index entries); their ring positions. With a
    `story_id`, `target` is a new story opened for them; else an open story they join."""
    identity = state.identity[slot]
    positions = [
        int(i)
        for i in state.members(slot, len(state.ring_slot))
        if not group.isdisjoint(state.ring_entities[i])
        and identity.isdisjoint(state.ring_entities[i])
    ]
    at = state.ring_at[positions]
    if story_id is not None:
        state.reset(target, story_id, float(at.max()))
        state.identity[target] = set(sorted(group)[:IDENTITY_MAX])
        state.founding[target] = {e for i in positions for e in state.ring_entities[i]}
    last = max(float(state.last[target]), float(at.max()))
    vectors = state.ring_vec[positions]
    old_weights = np.exp(-decay * np.maximum(0.0, float(state.last[slot]) - at))
    new_weights = np.exp(-decay * (last - at))
    state.sums[slot] -= (old_weights[:, None] * vectors).sum(axis=0)
    kept = math.exp(-decay * (last - float(state.last[target])))
    state.sums[target] = state.sums[target] * kept + (new_weights[:, None] * vectors).sum(axis=0)
    state.last[target] = last
    for changed in (slot, target):
        norm = float(np.linalg.norm(state.sums[changed]))
        state.unit[changed] = state.sums[changed] / norm if norm > 1e-6 else 0.0
    for i in positions:
        state.uncount_entities(slot, state.ring_entities[i])
        state.count_entities(target, state.ring_entities[i])
    # Older mentions of the group (no longer among the recent ones) count for it too.
    for entity in sorted(group):
        rest = state.entities.get(entity, {}).get(slot, 0)
        if rest:
            state.uncount_entities(slot, (entity,), rest)
            state.count_entities(target, (entity,), rest)
    state.size[slot] = max(0.0, state.size[slot] - len(positions))
    state.size[target] += len(positions)
    state.recount_top(slot)
    state.ring_slot[positions] = target
    tags = [t for t in state.tags.keys_of(slot) if _tag_entity(t) in group]
    state.tags.repoint(tags, slot, target, state.ids[target])
    state.posts.repoint((state.ring_key[i] for i in positions), slot, target, state.ids[target])
    return positions


def _tag_entity(tag: str) -> str:
    return "#" + fold(tag.lstrip("#"))


def told_elsewhere(
    state: BrandState, slot: int, group: frozenset[str], open_: np.ndarray, least: int
) -> int | None:
    """The open story other than `slot`'s where `group` is best known (at least `least`
    mentions of one of its entities), or None."""
    known: Counter[int] = Counter()
    for entity in group:
        for other, count in state.entities.get(entity, {}).items():
            if other != slot and open_[other] and count >= least:
                known[other] += count
    return max(known, key=lambda other: (known[other], -other)) if known else None
