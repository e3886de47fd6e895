"""Prometheus helpers: per-service metric sets bound to a registry, and exposition."""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# One name for the lag of every consumer group (sentiment, alerting): dashboards, alert rules
# and autoscaling select it by `group`.
CONSUMER_LAG = "crisiswatch_consumer_lag_records"


def consumer_lag_gauge(registry: CollectorRegistry) -> Gauge:
    """The consumer-lag gauge of a service: records behind per group, topic and partition."""
    return Gauge(
        CONSUMER_LAG,
        "Records behind the end of each assigned partition, per consumer group.",
        ["group", "topic", "partition"],
        registry=registry,
    )


def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """`histogram.observe(v)` for every value, with one increment per bucket, not per value.

    Falls back to one `observe()` per value if the client library's internals change.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    counts = [0] * len(bounds)
    summed = 0.0
    for value in values:
        summed += value
        if value == value:  # NaN falls in no bucket, as with observe()
            counts[bisect_left(bounds, value)] += 1
    total.inc(summed)
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)


def metrics_response(registry: CollectorRegistry) -> Response:
    """The Prometheus text exposition of `registry` as an HTTP response."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def metrics_endpoint(registry: CollectorRegistry):  # type: ignore[no-untyped-def]
    """A Starlette endpoint serving `registry`."""

    async def endpoint(_: Request) -> Response:
        return metrics_response(registry)

    return endpoint


class MetricsServer:
    """Serves a registry on its own port, for workers that have no HTTP app."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving `/metrics` in a daemon thread (port 0 disables it)."""
        if self._port == 0:
            return
        self._server, self._thread = start_http_server(
            self._port, addr=self._host, registry=self._registry
        )
        log.info("metrics on http://%s:%d/metrics", self._host, self._port)

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
