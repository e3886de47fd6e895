"""Prometheus metrics of the alerting service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import consumer_lag_gauge
from shared.resilience import DB_ERROR_KINDS

# End-to-end latency buckets: seconds from the tipping mention's ingestion to the incident.
LATENCY_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 1800)


class AlertingMetrics:
    """Signals, incidents, gating, lateness, alert latency, database errors and consumer lag."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.signals = Counter(
            "crisiswatch_alerting_signals_total",
            "Detector firings that passed the gates, per rule.",
            ["rule"],
            registry=registry,
        )
        self.gated = Counter(
            "crisiswatch_alerting_gated_total",
            "Detector firings refused by the distinct-author gate, per rule.",
            ["rule"],
            registry=registry,
        )
        self.incidents_opened = Counter(
            "crisiswatch_alerting_incidents_opened_total",
            "Incidents opened, per rule and severity.",
            ["rule", "severity"],
            registry=registry,
        )
        self.incidents_escalated = Counter(
            "crisiswatch_alerting_incidents_escalated_total",
            "Open incidents whose severity rose, per new severity.",
            ["severity"],
            registry=registry,
        )
        self.recoveries = Counter(
            "crisiswatch_alerting_recovery_proposed_total",
            "Auto-resolve proposals (metrics back to baseline).",
            registry=registry,
        )
        self.latency = Histogram(
            "crisiswatch_alerting_latency_seconds",
            "Ingestion of the tipping mention to the incident stored, per rule.",
            ["rule"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.late = Counter(
            "crisiswatch_alerting_late_mentions_total",
            "Mentions that arrived after their bin closed (kept out of detection).",
            registry=registry,
        )
        self.bins = Counter(
            "crisiswatch_alerting_bins_total",
            "Series bins fed to the detectors.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "crisiswatch_alerting_dlq_total",
            "Records the alerting service dead-lettered: undecodable scored records, and "
            "signals or recoveries the database refused.",
            registry=registry,
        )
        self.db_errors = Counter(
            "crisiswatch_alerting_db_errors_total",
            "Database errors of the alerting worker, per kind: transient (retried with "
            "back-off), data (that signal dead-lettered) and fatal (the service stops).",
            ["kind"],
            registry=registry,
        )
        for kind in DB_ERROR_KINDS:
            self.db_errors.labels(kind)
        self.rules_loaded = Gauge(
            "crisiswatch_alerting_rules_loaded",
            "Enabled user rules (/v1/rules) the worker evaluates.",
            registry=registry,
        )
        self.rule_errors = Counter(
            "crisiswatch_alerting_rule_errors_total",
            "User rules skipped because their definition or evaluation failed, per rule.",
            ["rule"],
            registry=registry,
        )
        self.brand_presets = Gauge(
            "crisiswatch_alerting_brand_presets",
            "Brands whose stored settings (/v1/brands/{brand}/settings) select a preset.",
            ["preset"],
            registry=registry,
        )
        self.partitions_owned = Gauge(
            "crisiswatch_alerting_partitions_owned",
            "Partitions of mentions.scored this worker holds (claimed at its current epoch).",
            registry=registry,
        )
        self.fenced = Counter(
            "crisiswatch_alerting_fenced_writes_total",
            "Writes refused because another worker took the partition (its epoch moved on), "
            "per kind: signal, recovery, state (one brand's detector state).",
            ["kind"],
            registry=registry,
        )
        for what in ("signal", "recovery", "state"):
            self.fenced.labels(what)
        self.lag = consumer_lag_gauge(registry)
