"""Prometheus metrics of the alerting service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

class AlertingMetrics:
    """Signals and incidents per rule, and what was dead-lettered."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.signals = Counter(
            "crisiswatch_alerting_signals_total",
            "Detector firings, per rule.",
            ["rule"],
            registry=registry,
        )
        self.incidents_opened = Counter(
            "crisiswatch_alerting_incidents_opened_total",
            "Incidents opened, per rule and severity.",
            ["rule", "severity"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "crisiswatch_alerting_dlq_total",
            "Scored records the alerting service could not decode.",
            registry=registry,
        )
        self.lag = Gauge(
            "crisiswatch_alerting_consumer_lag_records",
            "Records behind the end of each assigned partition.",
            ["topic", "partition"],
            registry=registry,
        )
