"""Enrichment of mentions: language, sentiment, emotion, crisis topics, keywords.

`Enricher` holds the loaded scorers; otherwise it is pure: mentions in, scored mentions out.
Every mention in a language the encoder covers is scored by the model tier (sentence vector
and trained heads); Chinese polarity comes from the dedicated Chinese model, which measures
better on it. Without a model tier (`sentiment_encoder=none`), or for languages the encoder
lacks, the rule-based scorers stand in (VADER for English, lexicons where one exists). An
optional transformer re-scores what matters (uncertain, negative, high reach, brands inside
an alert window). A language no method covers stays unscored (`sentiment` None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from services.sentiment.core.context import ContextGate, judge_by_context, supports_crisis
from services.sentiment.core.keywords import extract_hashtags, extract_keywords
from services.sentiment.core.language import detect_languages
from services.sentiment.core.textmatch import TextTokens
from services.sentiment.core.topics import TopicLexicon
from services.sentiment.core.triage import TriagePolicy, needs_transformer
from services.sentiment.encoders.base import SentenceEncoder
from services.sentiment.encoders.cache import CachingEncoder
from services.sentiment.encoders.huggingface import HuggingFaceEncoder
from services.sentiment.encoders.use import UniversalSentenceEncoder
from services.sentiment.scorers.chinese import ChineseSentimentScorer
from services.sentiment.scorers.heads import HEAD_DIR
from services.sentiment.scorers.lexicon import LexiconSentimentScorer
from services.sentiment.scorers.lexicon_emotion import LexiconEmotionScorer
from services.sentiment.scorers.model_tier import ModelTier
from services.sentiment.scorers.transformer import (
    InferenceOptions,
    TransformerEmotionScorer,
    TransformerSentimentScorer,
    top_emotion,
)
from services.sentiment.scorers.vader import VaderScorer
from shared.schemas import Mention, ScoredMention, SentimentScore
from shared.settings.sentiment import SentimentSettings

DEFAULT_MODEL = "default"
DEFAULT_ENCODER = "use"


@dataclass
class _Row:
    mention: Mention
    language: str
    confidence: float
    sentiment: SentimentScore | None = None
    emotions: dict[str, float] = field(default_factory=dict)
    vector: np.ndarray | None = None  # the sentence vector, when the model tier is loaded
    # tokenised once, shared by the lexicon scorers and the topic matcher
    doc: TextTokens = field(init=False)

    def __post_init__(self) -> None:
        self.doc = TextTokens(self.mention.text)


class Enricher:
    """Scores batches of mentions with the configured scorers."""

    def __init__(
        self,
        *,
        model: ModelTier | None = None,
        transformer: TransformerSentimentScorer | None = None,
        emotion_model: TransformerEmotionScorer | None = None,
        policy: TriagePolicy | None = None,
        topics: TopicLexicon | None = None,
        gate: ContextGate | None = None,
        keyword_limit: int = 8,
    ) -> None:
        self._vader = VaderScorer()
        self._chinese = ChineseSentimentScorer()
        self._lexicon = LexiconSentimentScorer()
        self._emotion_lexicon = LexiconEmotionScorer()
        self._topics = topics or TopicLexicon.load()
        self._gate = gate or ContextGate()
        self._model = model
        self._transformer = transformer
        self._emotion_model = emotion_model
        self.policy = policy or TriagePolicy()
        self._keyword_limit = keyword_limit

    @classmethod
    def from_settings(cls, settings: SentimentSettings) -> Enricher:
        """Build the enricher: the model tier unless disabled, the transformer when enabled."""
        model = build_model_tier(settings)
        transformer = emotion_model = None
        if settings.sentiment_transformer_enabled:
            options = InferenceOptions(
                max_length=settings.sentiment_max_length,
                batch_size=settings.sentiment_transformer_batch,
                num_threads=settings.torch_threads(),
                quantize=settings.sentiment_quantize,
            )
            ref, languages = _resolve_model(
                settings.sentiment_transformer_model, "sentiment", settings.cache_dir
            )
            transformer = TransformerSentimentScorer(ref, options=options, languages=languages)
            transformer.load()
            eref, elanguages = _resolve_model(
                settings.sentiment_emotion_model, "emotion", settings.cache_dir
            )
            emotion_model = TransformerEmotionScorer(eref, options=options, languages=elanguages)
            emotion_model.load()
        policy = TriagePolicy(
            confidence_below=settings.sentiment_route_confidence_below,
            negative=settings.sentiment_route_negative,
            reach_at_least=settings.sentiment_route_reach_at_least,
        )
        return cls(model=model, transformer=transformer, emotion_model=emotion_model, policy=policy)

    def supports(self, language: str) -> bool:
        """True when some sentiment method covers `language`."""
        scorers = (self._model, self._vader, self._chinese, self._lexicon, self._transformer)
        return any(s is not None and s.supports(language) for s in scorers)

    def enrich_batch(
        self, mentions: Sequence[Mention], *, alert_brands: Collection[str] = frozenset()
    ) -> list[ScoredMention]:
        """Enrich each mention; odd text (empty, emoji only, huge) never raises."""
        return self.enrich_with_vectors(mentions, alert_brands=alert_brands)[0]

    def enrich_with_vectors(
        self, mentions: Sequence[Mention], *, alert_brands: Collection[str] = frozenset()
    ) -> tuple[list[ScoredMention], list[np.ndarray | None]]:
        """`enrich_batch`, plus each mention's sentence vector (None without a model tier).

        The vectors the model tier scored with are reused; mentions in languages it does
        not score are encoded too (the encoder reads any script), so every mention can be
        placed in a story.
        """
        detected = detect_languages([m.text for m in mentions], [m.language_hint for m in mentions])
        rows = [
            _Row(m, language, max(0.0, min(1.0, confidence)))
            for m, (language, confidence) in zip(mentions, detected, strict=True)
        ]
        self._fast_path(rows)
        self._transformer_path(rows, alert_brands)
        self._remaining_vectors(rows)
        now = datetime.now(UTC)
        topics = self._context_judged(rows, [self._crisis_topics(row) for row in rows])
        out = []
        for row, row_topics in zip(rows, topics, strict=True):
            m = row.mention
            out.append(
                ScoredMention(
                    mention=m,
                    language=row.language,
                    language_confidence=row.confidence,
                    sentiment=row.sentiment,
                    emotions=row.emotions,
                    emotion=top_emotion(row.emotions) if row.emotions else None,
                    topics=row_topics,
                    keywords=_keywords(m, row.language, self._keyword_limit),
                    scored_at=now,
                )
            )
        return out, [row.vector for row in rows]

    def _crisis_topics(self, row: _Row) -> tuple[list[str], list[str]]:
        """(kept, named): the topics the text names, and of them those kept: crisis topics
        only where its tone supports them, or where they come after a contrast ("love Acme,
        but my charger caught fire": the praise before it says nothing of what follows) in
        a text that does not laugh."""
        topics = self._topics.match(row.doc, row.language)
        laughs = bool(topics) and self._topics.laughs(row.doc)
        if not topics or supports_crisis(
            row.sentiment, row.emotions, laughs=laughs, gate=self._gate
        ):
            return topics, topics
        rescued = () if laughs else self._topics.after_contrast(row.doc, row.language)
        kept = [t for t in topics if t in rescued or not self._topics.is_critical(t)]
        return kept, topics

    def _context_judged(
        self, rows: list[_Row], judged: list[tuple[list[str], list[str]]]
    ) -> list[list[str]]:
        """The topics each mention keeps once the context head has read the posts that name
        a crisis topic (`core.context.judge_by_context`), in one pass; languages the head
        was not trained on, and an enricher without a head, keep the gate's answer."""
        out = [kept for kept, _ in judged]
        head = self._model.context if self._model is not None else None
        if head is None:
            return out
        asked = [
            i
            for i, (row, (_, named)) in enumerate(zip(rows, judged, strict=True))
            if row.vector is not None
            and head.supports(row.language)
            and any(self._topics.is_critical(t) for t in named)
        ]
        if not asked:
            return out
        vectors = np.stack([rows[i].vector for i in asked])  # type: ignore[misc]
        for i, p in zip(asked, head.report_probability(vectors), strict=True):
            kept, named = judged[i]
            out[i] = judge_by_context(
                kept, named, float(p), head.cut, is_critical=self._topics.is_critical
            )
        return out

    def _remaining_vectors(self, rows: list[_Row]) -> None:
        """Encode the mentions the model tier did not score (other languages)."""
        missing = [r for r in rows if r.vector is None]
        if self._model is None or not missing:
            return
        vectors = self._model.encoder.encode([r.mention.text for r in missing])
        for row, vector in zip(missing, vectors, strict=True):
            row.vector = vector

    def _fast_path(self, rows: list[_Row]) -> None:
        by_language: dict[str, list[_Row]] = defaultdict(list)
        for row in rows:
            by_language[row.language].append(row)
        modelled = [r for r in rows if self._model is not None and self._model.supports(r.language)]
        if modelled:
            self._model_path(modelled)
        for language, group in by_language.items():
            if self._model is not None and self._model.supports(language):
                continue
            texts = [r.mention.text for r in group]
            docs = [r.doc for r in group]
            scores: Sequence[SentimentScore | None]
            if self._vader.supports(language):
                scores = self._vader.score(texts)
            elif self._chinese.supports(language):
                scores = self._chinese.score(texts)
            elif self._lexicon.supports(language):
                scores = self._lexicon.score(docs, language=language)
            else:
                scores = [None] * len(texts)
            emotions: Sequence[dict[str, float]] = (
                self._emotion_lexicon.score(docs, language=language)
                if self._emotion_lexicon.supports(language)
                else [{}] * len(texts)
            )
            for row, score, emotion in zip(group, scores, emotions, strict=True):
                row.sentiment = score
                row.emotions = emotion

    def _model_path(self, rows: list[_Row]) -> None:
        assert self._model is not None
        texts = [r.mention.text for r in rows]
        scores, emotions, vectors = self._model.score_with_vectors(
            texts, [r.language for r in rows]
        )
        chinese = [i for i, r in enumerate(rows) if self._chinese.supports(r.language)]
        if chinese:  # measured better on Chinese polarity than the heads (MODEL_CARD.md)
            dedicated = self._chinese.score([texts[i] for i in chinese])
            for i, score in zip(chinese, dedicated, strict=True):
                scores[i] = score
        for row, score, emotion, vector in zip(rows, scores, emotions, vectors, strict=True):
            row.sentiment = score
            row.emotions = emotion
            row.vector = vector

    def _transformer_path(self, rows: list[_Row], alert_brands: Collection[str]) -> None:
        if self._transformer is None:
            return
        routed = [
            r
            for r in rows
            if self._transformer.supports(r.language)
            and needs_transformer(r.mention, r.sentiment, policy=self.policy,
                                  alert_brands=alert_brands)
        ]  # fmt: skip
        if not routed:
            return
        texts = [r.mention.text for r in routed]
        for row, score in zip(routed, self._transformer.score(texts), strict=True):
            row.sentiment = score
        if self._emotion_model is not None:
            eligible = [r for r in routed if self._emotion_model.supports(r.language)]
            scores = self._emotion_model.score([r.mention.text for r in eligible])
            for row, emotion in zip(eligible, scores, strict=True):
                row.emotions = emotion


def _keywords(mention: Mention, language: str, limit: int) -> list[str]:
    tags = mention.hashtags or extract_hashtags(mention.text)
    words = extract_keywords(mention.text, language, limit=limit)
    if not tags:  # the words are distinct and at most `limit`: nothing to merge or cut
        return words
    return list(dict.fromkeys([*(f"#{t}" for t in tags[:limit]), *words]))[: limit * 2]


def build_model_tier(settings: SentimentSettings) -> ModelTier | None:
    """The configured encoder with its heads, or None when `sentiment_encoder` is `none`."""
    ref = settings.sentiment_encoder
    if ref == "none":
        return None
    encoder: SentenceEncoder
    if ref == DEFAULT_ENCODER:
        encoder = UniversalSentenceEncoder(threads=settings.sentiment_encoder_threads)
    else:
        options = InferenceOptions(
            max_length=settings.sentiment_max_length,
            batch_size=settings.sentiment_transformer_batch,
            num_threads=settings.sentiment_encoder_threads,
        )
        encoder = HuggingFaceEncoder(ref, options=options)
        encoder.load()
    cached = CachingEncoder(encoder, capacity=settings.sentiment_encoder_cache)
    heads = settings.sentiment_heads_dir or HEAD_DIR
    return ModelTier.for_encoder(cached, heads, context=settings.sentiment_context_head)


def _resolve_model(ref: str, kind: str, cache_dir: Path) -> tuple[str, list[str] | None]:
    """`default` becomes the shipped English model directory; anything else is used as given."""
    if ref != DEFAULT_MODEL:
        return ref, None
    from services.sentiment.model.assemble import materialize_default_model

    path = materialize_default_model(kind, cache_dir / "models")  # type: ignore[arg-type]
    return str(path), ["en"]
