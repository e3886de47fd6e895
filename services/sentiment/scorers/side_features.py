"""Cheap rule-based signals fed to the trained heads next to the sentence vector.

Measured on the UMSAB validation split and TweetEval (cross-fitted), VADER's proportions and
compound for English and the hand-written lexicons' valence for their languages add 1-3
points of macro-F1 to the heads: they know
negations, boosters and emoji that a sentence vector blurs. They are features only; a
language is covered because the encoder covers it, never because a lexicon exists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.sentiment.scorers.lexicon import LexiconSentimentScorer
from services.sentiment.scorers.vader import VaderScorer

SIDE_FEATURES = ("vader_neg_en", "vader_neu_en", "vader_pos_en", "vader_compound_en",
                 "lexicon_valence")  # fmt: skip
# The heads were trained with the side features at this scale (the vector's rows are unit
# length, so its coordinates are small; the scale keeps both in the same range).
SIDE_SCALE = 2.0


class SideFeatures:
    """Computes the side features of texts given their languages."""

    def __init__(self) -> None:
        self._vader = VaderScorer()
        self._lexicon = LexiconSentimentScorer()

    def compute(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        """Return an (n, len(SIDE_FEATURES)) float32 array, zero where a feature is absent."""
        out = np.zeros((len(texts), len(SIDE_FEATURES)), dtype=np.float32)
        for i, (text, language) in enumerate(zip(texts, languages, strict=True)):
            if language == "en":
                out[i, :4] = self._vader.polarity(text)
            elif self._lexicon.supports(language):
                out[i, 4] = self._lexicon.score_one(text, language).score
        out *= SIDE_SCALE
        return out
