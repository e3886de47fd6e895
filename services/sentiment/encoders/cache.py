"""Remember the vectors of recent texts: retweets and copied posts are encoded once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from services.sentiment.encoders.base import SentenceEncoder


class CachingEncoder:
    """Wraps an encoder with a bounded least-recently-used cache keyed by the exact text."""

    def __init__(self, inner: SentenceEncoder, *, capacity: int = 20_000) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.inner = inner
        self.name = inner.name
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self.inner.dim

    def supports(self, language: str) -> bool:
        """Same languages as the wrapped encoder."""
        return self.inner.supports(language)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode only the texts not seen recently (each distinct text once per batch)."""
        if not texts:
            return self.inner.encode(texts)
        cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        fresh = dict(zip(missing, self.inner.encode(missing), strict=True)) if missing else {}
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        rows = []
        for text in texts:
            vector = fresh.get(text)
            if vector is None:
                vector = cache[text]
                cache.move_to_end(text)
            rows.append(vector)
        for text, vector in fresh.items():
            cache[text] = vector
        while len(cache) > self.capacity:
            cache.popitem(last=False)
        return np.vstack(rows).astype(np.float32, copy=False)
