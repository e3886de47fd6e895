"""Prometheus helpers: per-service metric sets bound to a registry, and exposition."""

from __future__ import annotations

import logging
import socket
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import (
    CONTENT_TYPE_LATEST,
    ThreadingWSGIServer,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:  # shared.probes imports shared.http.health, which imports this module
    from shared.probes import WorkerProbes

log = logging.getLogger(__name__)

# How often the metrics server checks for shutdown: a worker stops within this, not 0.5 s.
_SHUTDOWN_POLL_S = 0.05

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


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


def worker_app(registry: CollectorRegistry, probes: WorkerProbes | None) -> Callable[..., Any]:
    """WSGI app: `/healthz` and `/readyz` from `probes` (when given), the rest `/metrics`."""
    metrics = make_wsgi_app(registry)
    answers = {"/healthz": probes.liveness, "/readyz": probes.readiness} if probes else {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = answers.get(environ.get("PATH_INFO", ""))
        if answer is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        status, body = answer()
        payload = orjson.dumps(body)
        reason = "OK" if status == 200 else "Service Unavailable"
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    return app


class MetricsServer:
    """Serves a registry on its own port, for workers that have no HTTP app; with `probes`,
    also `/healthz` (liveness) and `/readyz` (readiness)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        probes: WorkerProbes | None = None,
    ) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._probes = probes
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one chosen for port 0 in tests)."""
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> None:
        """Start serving in a daemon thread (port 0 disables it); call from the worker's
        event loop, which the probes check."""
        if self._port == 0:
            return
        if self._probes is not None:
            self._probes.attach()
        family = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("MetricsWSGIServer", (ThreadingWSGIServer,), {"address_family": family})
        self._server = make_server(
            self._host,
            self._port,
            worker_app(self._registry, self._probes),
            server_class,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name="metrics-server",
            daemon=True,
        )
        self._thread.start()
        probes = " /healthz /readyz" if self._probes is not None else ""
        log.info("metrics on http://%s:%d/metrics%s", self._host, self.port, probes)

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
