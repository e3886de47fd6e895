"""The service's own scoring path (language routing, model tier, transformer) as a scorer.

`crisiswatch eval` uses it by default with the service's own settings (defaults, environment
and `.env` alike), so the figures describe what the service stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.sentiment.core.enrich import Enricher
from shared.schemas import Mention, ScoredMention
from shared.settings.sentiment import SentimentSettings

UNSCORED = "unscored"


@dataclass(frozen=True, slots=True)
class PipelineLabel:
    """A predicted polarity; `unscored` when no method covers the text's language."""

    label: str


def _as_mentions(texts: Sequence[str]) -> list[Mention]:
    now = datetime.now(UTC)
    return [
        Mention(
            platform="eval",
            external_id=str(i),
            author_id="a_eval",
            text=text or " ",
            created_at=now,
            brands=["eval"],
        )
        for i, text in enumerate(texts)
    ]


class _Pipeline:
    def __init__(self, settings: SentimentSettings | None = None) -> None:
        settings = settings or SentimentSettings()
        self._enricher = Enricher.from_settings(settings)
        parts = ["pipeline", "rules" if settings.sentiment_encoder == "none" else "model"]
        if settings.sentiment_transformer_enabled:
            parts.append("transformer")
        self.name = "+".join(parts)

    def supports(self, language: str) -> bool:
        """True when the service scores `language`."""
        return self._enricher.supports(language)

    def _enrich(self, texts: Sequence[str]) -> list[ScoredMention]:
        return self._enricher.enrich_batch(_as_mentions(texts))


class PipelineSentimentScorer(_Pipeline):
    """Polarity exactly as the sentiment service computes it."""

    def score(self, texts: Sequence[str]) -> list[PipelineLabel]:
        """One label per text (`unscored` for uncovered languages)."""
        return [
            PipelineLabel(s.sentiment.label if s.sentiment else UNSCORED)
            for s in self._enrich(texts)
        ]


class PipelineEmotionScorer(_Pipeline):
    """Emotions exactly as the sentiment service computes them."""

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Emotion scores per text (`{"unscored": 1.0}` for uncovered languages)."""
        return [s.emotions or {UNSCORED: 1.0} for s in self._enrich(texts)]
