"""Logging set-up shared by every process: one line per record, ISO-8601 UTC timestamps.

Two formats: `text` (greppable, for a terminal) and `json` (one object per line, for a log
pipeline): `ts`, `level`, `logger`, `message`, `request_id` when the record belongs to a
request, `exc` with the traceback, and whatever a caller passes in `extra={...}`.
The request id lives in a context variable (`request_id_var`): the HTTP middleware sets it,
every record logged while serving that request carries it; workers set it around the work on
one record that came with a `request_id` Kafka header (`request_context`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

request_id_var: ContextVar[str | None] = ContextVar("crisiswatch_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "request_id", "taskName"}
)


def iso_utc(created: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds: 2026-12-04T05:44:51.123Z."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Log (and dead-letter) under `request_id` inside the block: a worker handling one
    record that came from a push. None leaves the current id in place."""
    if request_id is None:
        yield
        return
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id of the context it was logged in (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """`<ISO time> LEVEL logger [request id]: message`."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        head = f"{iso_utc(record.created)} {record.levelname:<7} {record.name}"
        line = f"{head}{f' [{rid}]' if rid else ''}: {record.getMessage()}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of `fmt`."""
    return JsonFormatter() if fmt == "json" else TextFormatter()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record to `sys.stderr` as it is when the record comes, not as it was when
    the handler was made: a stderr replaced meanwhile (a test's captured stream, closed after
    the test) is never written to by a thread that logs later."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignored: the stream is always the current stderr."""


def configure_logging(level: str = "INFO", fmt: LogFormat = "text") -> None:
    """Send log records to stderr, one line each, in `fmt`."""
    handler = StderrHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "httpx", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
