"""A brand's clustering state as bytes and back, so its stories outlive the process.

After a restart or a partition move, a brand whose state is restored keeps its open stories:
the next mention of an ongoing story joins it under the same id instead of opening a new
one (and a new incident). The format is an `.npz` archive read with `allow_pickle=False`:
the arrays as they are, and the Python containers as one JSON document (sets sorted, so the
bytes do not depend on string hashing). `load_state` of `dump_state` gives a state that
assigns exactly as the original does.
"""

from __future__ import annotations

import io
from collections import Counter, OrderedDict
from typing import Any

import numpy as np
import orjson

from services.sentiment.core.story_state import BrandState, KeyIndex
from shared.errors import CrisiswatchError

FORMAT = 1
_ARRAYS = (
    "mean", "sums", "unit", "last", "born", "size", "top", "placed", "fit_n", "fit_mean",
    "fit_var", "ring_slot", "ring_seq", "ring_at", "ring_vec",
)  # fmt: skip
_INDEXES = ("tags", "urls", "posts")


class SnapshotError(CrisiswatchError):
    """The bytes are not a state this version can restore."""


def dump_state(state: BrandState) -> bytes:
    """`state` as bytes (`load_state` restores it)."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "dims": [state.dim, state.budget, state.max_keys, state.recent],
        "seen": state.seen,
        "written": state.written,
        "background": list(state.background) if state.background else None,
        "ids": state.ids,
        "merged": list(state.merged.items()),
        "entities": [[e, sorted(slots.items())] for e, slots in state.entities.items()],
        "slot_entities": [sorted(s) for s in state.slot_entities],
        "identity": [sorted(s) for s in state.identity],
        "founding": [sorted(s) for s in state.founding],
        "linked": [sorted(c.items()) for c in state.linked],
        "mentions_of": list(state.mentions_of.items()),
        "ring_entities": [list(e) for e in state.ring_entities],
        "ring_key": state.ring_key,
        **{name: [[k, list(v)] for k, v in getattr(state, name).items()] for name in _INDEXES},
    }
    buffer = io.BytesIO()
    arrays = {name: getattr(state, name) for name in _ARRAYS}
    np.savez(buffer, meta=np.frombuffer(orjson.dumps(meta), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def load_state(data: bytes, *, dims: tuple[int, int, int, int]) -> BrandState:
    """The state `dump_state` wrote; `dims` (vector size, budget, max keys, recent) must be
    the clusterer's, or `SnapshotError` (a state of other settings is not restored)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = orjson.loads(archive["meta"].tobytes())
            arrays = {name: archive[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"not a story state: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise SnapshotError(f"story state format {meta.get('format')}, expected {FORMAT}")
    if tuple(meta["dims"]) != dims:
        raise SnapshotError(f"story state of other settings {meta['dims']}, expected {dims}")
    state = BrandState(*dims)
    for name, value in arrays.items():
        setattr(state, name, value.copy())
    state.seen, state.written = int(meta["seen"]), int(meta["written"])
    background = meta["background"]
    state.background = (int(background[0]), str(background[1])) if background else None
    state.ids = list(meta["ids"])
    state.merged = OrderedDict((old, new) for old, new in meta["merged"])
    state.entities = {e: {int(s): int(n) for s, n in slots} for e, slots in meta["entities"]}
    state.slot_entities = [set(s) for s in meta["slot_entities"]]
    state.identity = [set(s) for s in meta["identity"]]
    state.founding = [set(s) for s in meta["founding"]]
    state.linked = [Counter(dict(pairs)) for pairs in meta["linked"]]
    state.mentions_of = OrderedDict((e, int(n)) for e, n in meta["mentions_of"])
    state.ring_entities = [tuple(e) for e in meta["ring_entities"]]
    state.ring_key = list(meta["ring_key"])
    for name in _INDEXES:
        index = KeyIndex(state.max_keys)
        for key, (slot, story_id) in meta[name]:
            index.put(key, int(slot), story_id)
        setattr(state, name, index)
    return state
