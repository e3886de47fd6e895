"""Prometheus metrics of the ingest service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS


class IngestMetrics:
    """Counters and histograms for mentions received, produced, dropped and rejected."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "crisiswatch_ingest_mentions_received_total",
            "Mentions received, per source.",
            ["source"],
            registry=registry,
        )
        self.produced = Counter(
            "crisiswatch_ingest_mentions_produced_total",
            "Mentions produced to Kafka, per source.",
            ["source"],
            registry=registry,
        )
        self.rejected = Counter(
            "crisiswatch_ingest_mentions_rejected_total",
            "Mentions refused (and dead-lettered), per source and reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.unmatched = Counter(
            "crisiswatch_ingest_mentions_unmatched_total",
            "Posts dropped because no watched brand matched, per source.",
            ["source"],
            registry=registry,
        )
        self.duplicates = Counter(
            "crisiswatch_ingest_mentions_duplicate_total",
            "Posts dropped because they were already produced unchanged, per source.",
            ["source"],
            registry=registry,
        )
        self.source_errors = Counter(
            "crisiswatch_ingest_source_errors_total",
            "Connector failures (disconnects, HTTP errors, rate limits), per source and kind.",
            ["source", "kind"],
            registry=registry,
        )
        self.watchlist_errors = Counter(
            "crisiswatch_ingest_watchlist_errors_total",
            "Failed reads of the stored watchlists (the last good watchlists stay in use).",
            registry=registry,
        )
        self.leases_held = Gauge(
            "crisiswatch_ingest_connector_leases_held",
            "1 while this replica holds the lease of a connector (and runs it), else 0.",
            ["source"],
            registry=registry,
        )
        self.lease_takeovers = Counter(
            "crisiswatch_ingest_connector_lease_takeovers_total",
            "Connector leases this replica took over from a holder whose lease had expired.",
            ["source"],
            registry=registry,
        )
        self.leases_lost = Counter(
            "crisiswatch_ingest_connector_leases_lost_total",
            "Connector leases this replica stopped holding without giving them up (renewal "
            "failed or refused): it stopped the connector.",
            ["source"],
            registry=registry,
        )
        self.produce_seconds = Histogram(
            "crisiswatch_ingest_produce_seconds",
            "Time to have a batch acknowledged by Kafka.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
