"""The OpenAPI document: readable operation ids, one error model, the errors every route
can answer documented where they apply.

- Operation ids are the route function's name (`get_incident`) or the route's explicit
  `operation_id`, never FastAPI's generated `get_incident_v1_incidents__incident_id__get`.
- `Problem` (RFC 9457 problem details, `application/problem+json`) is the body of every
  4xx and 5xx answer; `install` documents 401/403/429 on every operation that takes an
  API key, 404 on every operation with a path parameter, 413 on those with a body, 422
  (with `Problem` instead of FastAPI's own model) and 503 on every `/v1` operation, and
  moves error answers that routes document with `Problem` to the problem media type.
- Models a route documents by hand (a body it reads raw, such as the push batch) are
  registered as components too (`models`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from shared.http.problems import PROBLEM_JSON

REF = "#/components/schemas/{model}"


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description="where: `body`, `query` or `path`, then the field")
    msg: str = Field(description="what is wrong with it")


class Problem(BaseModel):
    """The body of every error answer: problem details (RFC 9457)."""

    type: str = Field("about:blank", description="`about:blank`: the status says the kind")
    title: str = Field(description="the HTTP status phrase, e.g. `Not Found`")
    status: int = Field(description="the HTTP status code of the answer")
    detail: str = Field(description="what went wrong, in words a client can show")
    instance: str | None = Field(None, description="the request path")
    request_id: str | None = Field(None, description="the answer's `X-Request-ID`")
    errors: list[FieldProblem] | None = Field(
        None, description="for 422 on request validation: one entry per invalid field"
    )


def operation_id(route: APIRoute) -> str:
    """The route function's name: `get_incident`."""
    return route.name


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
_INTEGER = {"type": "integer"}
_QUOTA = {
    "RateLimit-Limit": {"description": "requests a key may burst", "schema": _INTEGER},
    "RateLimit-Remaining": {"description": "requests left now", "schema": _INTEGER},
    "RateLimit-Reset": {"description": "seconds until the quota is full", "schema": _INTEGER},
    "RateLimit-Policy": {
        "description": "`<burst>;w=<refill seconds>`",
        "schema": {"type": "string"},
    },
}
STANDARD: dict[str, tuple[str, dict[str, Any]]] = {
    "401": ("no valid API key (missing, unknown or revoked)", {}),
    "403": ("the key's role is too low for this operation", {}),
    "404": ("no such resource", {}),
    "413": ("request body too large", {}),
    "422": ("invalid input: the body, a query or a path parameter", {}),
    "429": ("this key exceeded its rate limit", {**_RETRY_AFTER, **_QUOTA}),
    "503": ("a dependency (database or Kafka) is unavailable; retry later", _RETRY_AFTER),
}


def _error_response(code: str) -> dict[str, Any]:
    description, headers = STANDARD[code]
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the standard error answers to every operation of `document` where they apply."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            codes = []
            if operation.get("security"):
                codes += ["401", "403", "429"]
            if "{" in path:
                codes.append("404")
            if "requestBody" in operation:
                codes.append("413")
            if path.startswith("/v1/"):
                codes += ["422", "503"]
            for code in codes:
                current = responses.get(code)
                schema = (current or {}).get("content", {}).get("application/json", {})
                generic = schema.get("schema", {}).get("$ref", "").endswith("HTTPValidationError")
                if current is None or generic:
                    responses[code] = _error_response(code)
            for code, answer in responses.items():
                content = answer.get("content", {})
                plain = content.get("application/json", {}).get("schema", {})
                if code[0] in "45" and plain.get("$ref") == REF.format(model="Problem"):
                    content[PROBLEM_JSON] = content.pop("application/json")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install(app: FastAPI, *, models: Iterable[type[BaseModel]] = ()) -> None:
    """Generate `app`'s document once, with the error model and `models` as components."""
    extra: list[type[BaseModel]] = [Problem, FieldProblem, *models]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _, top = models_json_schema(
                [(model, "validation") for model in extra], ref_template=REF
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in top.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document_errors(document)
        return app.openapi_schema

    setter: Callable[[], dict[str, Any]] = openapi
    app.openapi = setter  # type: ignore[method-assign]
