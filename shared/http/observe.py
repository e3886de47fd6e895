"""Request ids, request logs and HTTP metrics: one ASGI middleware outside every app.

Each request gets an id: the caller's `X-Request-ID` when it is a sane token (letters,
digits, `-_.:`, at most 128), else a fresh one. The id is echoed in the response header,
set in `shared.logging.request_id_var` for every record logged while serving it, and
logged with the request line (`crisiswatch.http`: method, route template, status,
duration). Metrics are labelled by route template (`/v1/incidents/{incident_id}`), never
by raw path, so their cardinality stays bounded; unrouted paths count as `unmatched`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import request_id_var
from shared.metrics import LATENCY_BUCKETS

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
UNMATCHED = "unmatched"
# Scope key of the headers a dependency asks to add to the answer (rate-limit quota).
RESPONSE_HEADERS = "crisiswatch.response_headers"

log = logging.getLogger("crisiswatch.http")


def add_response_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers `RequestObserver` adds to the answer of `request`, whatever the route
    returns (a model or its own `Response`), errors included."""
    request.scope.setdefault(RESPONSE_HEADERS, {}).update(headers)


def accept_request_id(presented: str | None) -> str:
    """The caller's request id when it is sane, else a new random one."""
    if presented is not None and _SANE_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class HttpMetrics:
    """`crisiswatch_http_requests_total` and the latency histogram, by route template."""

    def __init__(self, registry: CollectorRegistry, *, service: str) -> None:
        self.service = service
        self.requests = Counter(
            "crisiswatch_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "crisiswatch_http_request_duration_seconds",
            "Time from request to the last byte of the answer, by route template.",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)


def route_templates(routes: Iterable[Any]) -> dict[int, str]:
    """Route object id -> its full path template (router prefixes included).

    FastAPI >= 0.16x keeps included routers nested and puts the router's own route, whose
    path lacks the prefix, in `scope["route"]`; older versions flatten `APIRoute`s.
    """
    templates: dict[int, str] = {}
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            if getattr(route, "path", None):
                templates[id(route)] = str(route.path)
            continue
        for context in contexts():
            original = getattr(context, "original_route", None)
            if original is not None:
                templates.setdefault(id(original), str(context.path))
    return templates


def route_template(scope: Scope, templates: dict[int, str]) -> str:
    """The path template of the route that served `scope`, else `unmatched`."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    return templates.get(id(route)) or str(getattr(route, "path", "") or UNMATCHED)


class RequestObserver:
    """Assign the request id, log the request line, count and time the request."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[int, str] | None = None

    def _template(self, scope: Scope) -> str:
        if self._templates is None:
            # The routes are final once the app serves; Starlette puts the app in the scope.
            self._templates = route_templates(getattr(scope.get("app"), "routes", ()))
        return route_template(scope, self._templates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id in context; observe it when answered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = None
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER.encode():
                presented = value.decode("latin-1")
                break
        request_id = accept_request_id(presented)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                extra = {
                    name.lower().encode(): value.encode()
                    for name, value in scope.get(RESPONSE_HEADERS, {}).items()
                }
                extra[REQUEST_ID_HEADER.encode()] = request_id.encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k not in extra]
                headers.extend(extra.items())
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self._template(scope)
            method = str(scope.get("method", ""))
            self.metrics.observe(method=method, route=route, status=status, seconds=seconds)
            log.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "http_method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            request_id_var.reset(token)
