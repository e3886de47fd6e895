"""Bounded memory of recently seen mentions: (platform, external id) -> content fingerprint."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class SeenCache:
    """An LRU with a time-to-live: at most `max_items` entries, each kept `ttl_s` seconds."""

    def __init__(
        self, *, max_items: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._items: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self._max = max_items
        self._ttl = ttl_s
        self._clock = clock

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> int | None:
        """The fingerprint stored for `key`, or None when unknown or expired."""
        entry = self._items.get(key)
        if entry is None:
            return None
        stored_at, fingerprint = entry
        if self._clock() - stored_at > self._ttl:
            del self._items[key]
            return None
        return fingerprint

    def put(self, key: Hashable, fingerprint: int) -> None:
        """Remember `key` with `fingerprint`, evicting the oldest entries beyond the bounds."""
        now = self._clock()
        self._items[key] = (now, fingerprint)
        self._items.move_to_end(key)
        while self._items:
            oldest_key, (stored_at, _) = next(iter(self._items.items()))
            if len(self._items) > self._max or now - stored_at > self._ttl:
                del self._items[oldest_key]
            else:
                break
