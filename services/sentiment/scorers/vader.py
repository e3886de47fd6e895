"""VADER: lexicon and rule based English polarity, fast enough to score every mention."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from services.sentiment.scorers.vader_fast import FastSentimentIntensityAnalyzer
from shared.schemas import SentimentLabel, SentimentScore

# Standard VADER cut-offs on the compound score. Measured on TweetEval sentiment val and
# GoEmotions group train, no pair in 0.05..0.3 beats them by more than 0.005 macro recall.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
# VADER's cost grows with text length; the head of a long article carries its tone, and an
# uncapped 40,000-character text would stall the hot path.
MAX_CHARS = 5_000
SCORE_MEMO_LIMIT = 50_000  # distinct compounds (4 decimals: at most 20,001) remembered


class VaderScorer:
    """English polarity from VADER; score is the compound value."""

    name = "vader"

    def __init__(
        self,
        *,
        positive_threshold: float = POSITIVE_THRESHOLD,
        negative_threshold: float = NEGATIVE_THRESHOLD,
        max_chars: int = MAX_CHARS,
        exact_library: bool = False,
    ) -> None:
        if not -1.0 < negative_threshold <= positive_threshold < 1.0:
            raise ValueError("need -1 < negative_threshold <= positive_threshold < 1")
        self.positive_threshold = positive_threshold
        self.negative_threshold = negative_threshold
        self.max_chars = max_chars
        # Builds the lexicon from files inside the package: ~15 ms, no network. The fast
        # subclass gives bit-identical scores at ~3x less CPU; `exact_library=True` runs the
        # untouched library instead (for comparisons).
        self._analyzer: SentimentIntensityAnalyzer = (
            SentimentIntensityAnalyzer() if exact_library else FastSentimentIntensityAnalyzer()
        )
        # One frozen score per (compound, thresholds): the score depends on nothing else.
        self._score_for = functools.lru_cache(maxsize=SCORE_MEMO_LIMIT)(self._build)

    def supports(self, language: str) -> bool:
        """True for English only: the lexicon and its rules are English."""
        return language == "en"

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """Score a batch of English texts."""
        return [self.score_one(text) for text in texts]

    def score_one(self, text: str) -> SentimentScore:
        """Score a single text."""
        analyzer = self._analyzer
        text = text[: self.max_chars]
        if isinstance(analyzer, FastSentimentIntensityAnalyzer):
            compound = analyzer.compound(text)
        else:
            compound = analyzer.polarity_scores(text)["compound"]
        # `-0.0 == 0.0` as a cache key, so a zero goes by its repr to keep its sign.
        return self._score_for(
            compound if compound else repr(compound),
            self.positive_threshold,
            self.negative_threshold,
        )

    def _build(self, compound: float | str, positive: float, negative: float) -> SentimentScore:
        # `positive` and `negative` are the thresholds `decide` reads: part of the cache key.
        value = float(compound)
        label, confidence = self.decide(value)
        # model_construct skips validation: every field is in range by construction and
        # validation would cost a noticeable share of the per-text budget. The model is
        # frozen, so one instance can stand for every text with the same compound.
        return SentimentScore.model_construct(
            label=label, score=value, confidence=confidence, scorer=self.name
        )

    def polarity(self, text: str) -> tuple[float, float, float, float]:
        """VADER's negative, neutral and positive proportions and its compound score."""
        parts = self._analyzer.polarity_scores(text[: self.max_chars])
        return parts["neg"], parts["neu"], parts["pos"], parts["compound"]

    def decide(self, compound: float) -> tuple[SentimentLabel, float]:
        """Map a compound score to (label, confidence)."""
        if compound >= self.positive_threshold:
            return "positive", _polar_confidence(compound)
        if compound <= self.negative_threshold:
            return "negative", _polar_confidence(compound)
        # Exactly 0 means no lexicon word fired, which is right about 65% of the time on
        # tweets; a small non-zero value means weak words that cancel or fall short.
        return "neutral", 0.6 if compound == 0.0 else 0.45


def _polar_confidence(compound: float) -> float:
    # Fitted by eye to accuracy per |compound| bin on TweetEval sentiment val:
    # ~0.33 below 0.4, ~0.52 at 0.5, ~0.65 at 0.7, ~0.9 above 0.8.
    return min(1.0, 1.0 / 3.0 + 0.6 * compound * compound)
