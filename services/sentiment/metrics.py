"""Prometheus metrics of the sentiment service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import LATENCY_BUCKETS, consumer_lag_gauge


class SentimentMetrics:
    """What the sentiment workers processed, how fast, and how far behind they are."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.scored = Counter(
            "crisiswatch_sentiment_mentions_scored_total",
            "Mentions scored, per sentiment label and language.",
            ["sentiment", "language"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "crisiswatch_sentiment_dlq_total",
            "Records sent to the dead-letter topic, per reason.",
            ["reason"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "crisiswatch_sentiment_stage_seconds",
            "Processing time of one batch per stage (decode, enrich, store, produce).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "crisiswatch_sentiment_batch_size",
            "Records per processed batch.",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
            registry=registry,
        )
        self.retries = Counter(
            "crisiswatch_sentiment_retries_total",
            "Batches retried because PostgreSQL or Kafka failed, per dependency.",
            ["dependency"],
            registry=registry,
        )
        self.brand_mentions = Counter(
            "crisiswatch_sentiment_brand_mentions_total",
            "Stored mentions per brand and sentiment label (unscored included).",
            ["brand", "sentiment"],
            registry=registry,
        )
        self.brand_emotions = Counter(
            "crisiswatch_sentiment_brand_emotion_total",
            "Stored mentions per brand and dominant emotion.",
            ["brand", "emotion"],
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            "crisiswatch_sentiment_ingest_to_stored_seconds",
            "From ingest accepting a mention to its scored row being committed.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.lag = consumer_lag_gauge(registry)
