"""The small interfaces every scorer implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.schemas import SentimentScore


class SentimentScorer(Protocol):
    """Scores the polarity of texts in the languages it supports."""

    name: str

    def supports(self, language: str) -> bool:
        """True when this scorer gives real scores for texts in `language` (ISO 639-1)."""
        ...

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """Score a batch of texts (all in supported languages), one result per text."""
        ...


class EmotionScorer(Protocol):
    """Scores anger, fear, sadness, joy, surprise, disgust and neutral for texts."""

    name: str

    def supports(self, language: str) -> bool:
        """True when this scorer gives real emotion scores for `language`."""
        ...

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One mapping per text from each of `shared.schemas.EMOTIONS` to a score in [0, 1]."""
        ...
