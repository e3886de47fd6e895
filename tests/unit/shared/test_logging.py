"""Log lines: ISO-8601 UTC timestamps with the date, JSON fields, the request id."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest

from shared.http.observe import accept_request_id
from shared.logging import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    request_id_var,
)

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _emit(formatter: logging.Formatter, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"test.logging.{id(formatter)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.warning("pushed %d mentions", 3, extra=extra)
    return stream.getvalue().strip()


def test_json_lines_carry_date_level_logger_message_and_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        entry = json.loads(_emit(JsonFormatter(), route="/v1/mentions"))
    finally:
        request_id_var.reset(token)
    assert ISO.match(entry["ts"]), entry["ts"]
    assert entry["level"] == "WARNING"
    assert entry["logger"].startswith("test.logging.")
    assert entry["message"] == "pushed 3 mentions"
    assert entry["request_id"] == "req-42"
    assert entry["route"] == "/v1/mentions"


def test_json_lines_outside_a_request_have_no_request_id() -> None:
    entry = json.loads(_emit(JsonFormatter()))
    assert "request_id" not in entry


def test_text_lines_start_with_the_full_utc_timestamp() -> None:
    token = request_id_var.set("abc")
    try:
        line = _emit(TextFormatter())
    finally:
        request_id_var.reset(token)
    stamp, level, rest = line.split(" ", 2)
    assert ISO.match(stamp)
    assert level == "WARNING"
    assert rest.endswith("[abc]: pushed 3 mentions")


def test_only_sane_request_ids_are_kept() -> None:
    assert accept_request_id("client-id_1.2:3") == "client-id_1.2:3"
    for hostile in (None, "", "a b", "x" * 129, "line\nbreak", "é"):
        fresh = accept_request_id(hostile)
        assert re.fullmatch(r"[0-9a-f]{32}", fresh)


def test_records_go_to_the_stderr_of_the_moment_not_a_closed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging("INFO")
        first.close()  # what a test's captured stderr is once the test is over
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("test.logging.late").info("a late record from a server thread")
        written = second.getvalue()
        assert "Logging error" not in written
        assert written.strip().endswith("a late record from a server thread")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
