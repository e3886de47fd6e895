"""Chinese sentiment: logistic regression over hashed jieba word unigrams and bigrams.

Trained by `tools.train.chinese` on the Chinese product and food-delivery reviews in the
shared data folder (positive/negative only); the weights ship as a small `.npz`. Texts
the model is unsure about (|score| inside a band calibrated on held-out data) are
labelled neutral, since the training data has no neutral class. Emoji move the score too.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from services.sentiment.core.segment import cut, jieba_tokenizer
from services.sentiment.scorers.lexicon import emoji_valence
from shared.schemas import SentimentScore

NAME = "zh-logreg-v1"
DEFAULT_MODEL = Path(__file__).with_name("data") / "zh_sentiment.npz"
HASH_BITS = 18
MAX_CHARS = 600  # reviews beyond this add little and cost segmentation time
EMOJI_WEIGHT = 0.8  # logit units per unit of emoji valence


def hashed_features(words: Iterable[str], bits: int = HASH_BITS) -> list[int]:
    """Return the sorted distinct hash buckets of word unigrams and adjacent bigrams."""
    tokens = [w.lower() for w in words if w.strip()]
    mask = (1 << bits) - 1
    grams = tokens + [f"{a}\x1f{b}" for a, b in itertools.pairwise(tokens)]
    return sorted({zlib.crc32(g.encode("utf-8")) & mask for g in grams})


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class ChineseSentimentScorer:
    """Scores Chinese text; loads weights and initialises jieba at construction."""

    name = NAME

    def __init__(self, model_path: Path | str | None = None) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        with np.load(path) as data:
            self._weights = data["weights"].astype(np.float32)
            self._bias = float(data["bias"])
            self._band = float(data["neutral_band"])
            self._bits = int(data["hash_bits"])
        if self._weights.shape != (1 << self._bits,):
            raise ValueError(f"{path}: weights do not match hash_bits={self._bits}")
        self._jieba = jieba_tokenizer()

    @property
    def neutral_band(self) -> float:
        """Scores with an absolute value below this are labelled neutral."""
        return self._band

    def supports(self, language: str) -> bool:
        """True for Chinese (``zh``, any script or region tag)."""
        return language.lower().split("-", 1)[0] == "zh"

    def logit(self, text: str) -> float:
        """Return the model's log-odds that `text` is positive (emoji included)."""
        buckets = hashed_features(list(cut(text[:MAX_CHARS])), self._bits)
        value = self._bias
        if buckets:
            value += float(self._weights[buckets].sum()) / math.sqrt(len(buckets))
        emoji_sum, emoji_count = emoji_valence(text)
        if emoji_count:
            value += EMOJI_WEIGHT * emoji_sum
        return value

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """Score a batch of Chinese texts."""
        return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> SentimentScore:
        # model_construct skips validation: every field is in range by construction, and
        # validation would be a noticeable share of the per-text cost.
        if not text.strip():
            return SentimentScore.model_construct(
                label="neutral", score=0.0, confidence=0.0, scorer=self.name
            )
        probability = _logistic(self.logit(text))
        value = max(-1.0, min(1.0, 2.0 * probability - 1.0))
        if abs(value) < self._band:
            confidence = 0.5 + 0.5 * (1.0 - abs(value) / self._band)
            return SentimentScore.model_construct(
                label="neutral",
                score=round(value, 4),
                confidence=round(confidence, 4),
                scorer=self.name,
            )
        return SentimentScore.model_construct(
            label="positive" if value > 0 else "negative",
            score=round(value, 4),
            confidence=round(max(probability, 1.0 - probability), 4),
            scorer=self.name,
        )
