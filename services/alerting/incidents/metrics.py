"""Prometheus metrics of incident work done through the API (the API process's registry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter


class IncidentMetrics:
    """Dismissals (false positives) per rule, read by the alert-quality dashboard."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.dismissed = Counter(
            "crisiswatch_incidents_dismissed",
            "Incidents dismissed as false positives through the API, per rule.",
            ["rule"],
            registry=registry,
        )


def get_incident_metrics(request: Request) -> IncidentMetrics:
    """The app's incident metrics (`app.state.incident_metrics`, set by `create_app`)."""
    metrics: IncidentMetrics = request.app.state.incident_metrics
    return metrics


IncidentMetricsDep = Annotated[IncidentMetrics, Depends(get_incident_metrics)]
