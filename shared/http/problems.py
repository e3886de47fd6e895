"""Error answers as problem details (RFC 9457, `application/problem+json`).

Every 4xx and 5xx body of every service has the same members: `type` (`about:blank`: the
status code says what kind of problem it is), `title` (the status phrase), `status`,
`detail` (what went wrong, in words a client can show), `instance` (the request path) and
`request_id` (the `X-Request-ID` the answer carries, to find the request's log lines).
Validation failures add `errors`, one entry per invalid field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from shared.logging import request_id_var

PROBLEM_JSON = "application/problem+json"


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The problem-details object of an error answer."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = [dict(e) for e in errors]
    return body


def problem(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> JSONResponse:
    """An `application/problem+json` answer with `status` and `detail`."""
    return JSONResponse(
        problem_body(status, detail, instance=instance, errors=errors),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_JSON,
    )
