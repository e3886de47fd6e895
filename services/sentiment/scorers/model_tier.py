"""The model tier: one sentence vector per text, trained heads for sentiment and emotion.

Every mention in a language the encoder covers is scored here; the vector is computed once
and both heads read it, with the side features (`side_features.py`) next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from services.sentiment.encoders.base import SentenceEncoder
from services.sentiment.scorers.context_head import CONTEXT_HEAD, ContextHead
from services.sentiment.scorers.heads import HEAD_DIR, Head, HeadFileError
from services.sentiment.scorers.side_features import SideFeatures
from shared.schemas import EMOTIONS, SENTIMENT_LABELS, SentimentLabel, SentimentScore

SENTIMENT_HEAD = "sentiment.npz"
EMOTION_HEAD = "emotion.npz"


def head_paths(encoder_name: str, directory: Path = HEAD_DIR) -> tuple[Path, Path]:
    """Where the sentiment and emotion heads of `encoder_name` live."""
    folder = directory / encoder_name.replace(":", "_").replace("/", "_")
    return folder / SENTIMENT_HEAD, folder / EMOTION_HEAD


def context_head_path(encoder_name: str, directory: Path = HEAD_DIR) -> Path:
    """Where the context head of `encoder_name` lives (beside its sentiment head)."""
    return head_paths(encoder_name, directory)[0].with_name(CONTEXT_HEAD)


class ModelTier:
    """Scores texts with an encoder and two heads; `score` takes each text's language.

    `context`: the optional context head over the same vectors (crisis words reported or
    used harmlessly), read by the enricher's crisis-topic decision.
    """

    def __init__(
        self,
        encoder: SentenceEncoder,
        sentiment_head: Head,
        emotion_head: Head,
        *,
        side: SideFeatures | None = None,
        context: ContextHead | None = None,
    ) -> None:
        for head, labels in ((sentiment_head, SENTIMENT_LABELS), (emotion_head, EMOTIONS)):
            if head.encoder != encoder.name:
                raise HeadFileError(
                    f"head trained on encoder {head.encoder!r}, not {encoder.name!r}; "
                    "train heads for this encoder with `crisiswatch model build --kind heads`"
                )
            if set(head.labels) != set(labels):
                raise HeadFileError(f"head labels {head.labels} are not {tuple(labels)}")
        if context is not None and context.encoder != encoder.name:
            raise HeadFileError(
                f"context head trained on encoder {context.encoder!r}, not {encoder.name!r}"
            )
        self.encoder = encoder
        self.context = context
        self.name = f"model:{encoder.name}"
        self._sentiment = sentiment_head
        self._emotion = emotion_head
        self._side = side or SideFeatures()
        self._negative = sentiment_head.labels.index("negative")
        self._positive = sentiment_head.labels.index("positive")

    @classmethod
    def for_encoder(
        cls, encoder: SentenceEncoder, directory: Path = HEAD_DIR, *, context: bool = True
    ) -> ModelTier:
        """Load the heads trained for `encoder` from `directory`; the context head too when
        `context` and a file for it exists (an encoder without one keeps the tone gate alone)."""
        sentiment, emotion = head_paths(encoder.name, directory)
        context_path = context_head_path(encoder.name, directory)
        context_head = (
            ContextHead.load(context_path) if context and context_path.is_file() else None
        )
        return cls(encoder, Head.load(sentiment), Head.load(emotion), context=context_head)

    def with_context(self, context: ContextHead | None) -> ModelTier:
        """The same encoder and heads with another context head (None: the tone gate alone)."""
        return ModelTier(self.encoder, self._sentiment, self._emotion, side=self._side,
                         context=context)  # fmt: skip

    def supports(self, language: str) -> bool:
        """True when the encoder covers `language`."""
        return self.encoder.supports(language)

    def features(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        """The heads' input: sentence vectors with the side features appended."""
        vectors = self.encoder.encode(texts)
        return np.hstack([vectors, self._side.compute(texts, languages)])

    def score(
        self, texts: Sequence[str], languages: Sequence[str]
    ) -> tuple[list[SentimentScore], list[dict[str, float]]]:
        """Sentiment and emotion scores of each text (one encoder pass for both)."""
        scores, emotions, _ = self.score_with_vectors(texts, languages)
        return scores, emotions

    def score_with_vectors(
        self, texts: Sequence[str], languages: Sequence[str]
    ) -> tuple[list[SentimentScore], list[dict[str, float]], np.ndarray]:
        """`score`, plus each text's sentence vector (for story clustering)."""
        if not texts:
            return [], [], np.zeros((0, self.encoder.dim), dtype=np.float32)
        vectors = self.encoder.encode(texts)
        x = np.hstack([vectors, self._side.compute(texts, languages)])
        sentiment = self._sentiment.probabilities(x)
        emotion = self._emotion.probabilities(x)
        labels = cast(tuple[SentimentLabel, ...], self._sentiment.labels)
        elabels = self._emotion.labels
        scores = []
        for row in sentiment:
            best = int(row.argmax())
            # model_construct: every field is in range by construction (see VaderScorer).
            scores.append(
                SentimentScore.model_construct(
                    label=labels[best],
                    score=round(float(row[self._positive] - row[self._negative]), 4),
                    confidence=round(float(row[best]), 4),
                    scorer=self.name,
                )
            )
        emotions = [
            {label: round(float(p), 4) for label, p in zip(elabels, row, strict=True)}
            for row in emotion
        ]
        return scores, emotions, vectors
