"""Enrichment of mentions: language, sentiment, emotion, crisis topics, keywords.

`Enricher` holds the loaded scorers and is pure otherwise: mentions in, scored mentions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import py3langid
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from shared.schemas import Mention, ScoredMention, SentimentScore


class Enricher:
    """Scores batches of mentions with the configured scorers."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def enrich_batch(self, mentions: Sequence[Mention]) -> list[ScoredMention]:
        """Enrich each mention; never raises for odd text."""
        now = datetime.now(UTC)
        out = []
        for m in mentions:
            lang, conf = py3langid.classify(m.text)
            sentiment = None
            if lang == "en" or m.language_hint == "en":
                compound = self._vader.polarity_scores(m.text)["compound"]
                label = (
                    "negative"
                    if compound <= -0.05
                    else "positive"
                    if compound >= 0.05
                    else "neutral"
                )
                sentiment = SentimentScore(
                    label=label, score=compound, confidence=abs(compound), scorer="vader"
                )
            out.append(
                ScoredMention(
                    mention=m,
                    language=lang,
                    language_confidence=max(0.0, min(1.0, float(conf))),
                    sentiment=sentiment,
                    scored_at=now,
                )
            )
        return out
