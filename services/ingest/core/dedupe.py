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
        self._sweep_after = float("-inf")  # when the oldest entry may have expired

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
        items = self._items
        items[key] = (now, fingerprint)
        items.move_to_end(key)
        # Replay puts 50k and more keys per second: look at the oldest entry only when the
        # cache is full or that entry may have expired.
        if len(items) > self._max or now > self._sweep_after:
            self._evict(now)

    def _evict(self, now: float) -> None:
        items = self._items
        while items:
            oldest_key, (stored_at, _) = next(iter(items.items()))
            if len(items) > self._max or now - stored_at > self._ttl:
                del items[oldest_key]
            else:
                # Entries only ever join at the end, so the oldest expires first.
                self._sweep_after = stored_at + self._ttl
                return
        self._sweep_after = now + self._ttl
