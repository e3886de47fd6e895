"""The interface every sentence encoder implements, and how one is chosen by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class SentenceEncoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """A short identifier; trained heads record it and refuse any other encoder."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def supports(self, language: str) -> bool:
        """True when the encoder was trained on `language` (ISO 639-1)."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (len(texts), dim) float32 array, one unit-length row per text."""
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
