"""The push source: `POST /v1/mentions`, mounted by the ingest service and by the API.

Both apps attach an `IngestComponent` (`app.state`): its `Ingestor`, whose watchlists it
reloads, and its `PushAuthenticator`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.ingest.core.assess import parse
from services.ingest.core.normalize import MentionIn
from services.ingest.pipeline import Ingestor, Outcome, Status, tally
from services.ingest.sources.push_auth import PushAuthenticator
from shared import serde
from shared.errors import BrokerUnavailable, InvalidRecord
from shared.http.openapi import REF, Problem
from shared.http.problems import PROBLEM_JSON, problem
from shared.settings.ingest import IngestSettings

router = APIRouter(prefix="/v1", tags=["ingest"])
SOURCE = "push"
# Models the push route documents by hand (it reads its body raw, to check signatures):
# every app that mounts the router registers them (`shared.http.openapi.install`).
OPENAPI_MODELS = (MentionIn,)
_BATCH = {"type": "array", "items": {"$ref": REF.format(model="MentionIn")}, "minItems": 1}

_EXAMPLE = [
    {
        "platform": "reddit",
        "external_id": "t3_1abc",
        "url": "https://www.reddit.com/r/gadgets/comments/1abc/",
        "author": "t2_9xyz",
        "author_reach": 1200,
        "text": "My new Acme kettle caught fire this morning. Never again.",
        "language": "en",
        "created_at": "2026-11-25T09:30:00Z",
        "engagement": {"likes": 10, "shares": 2, "replies": 4, "views": 900},
        "brands": ["acme"],
    }
]


class PushItem(BaseModel):
    """What became of one pushed item."""

    index: int = Field(description="position of the item in the batch")
    status: Status = Field(
        description="accepted: produced; duplicate: an unchanged repeat of a mention already "
        "accepted, not produced again; unmatched: names no watched brand, not produced; "
        "invalid: refused and dead-lettered"
    )
    reason: str | None = Field(default=None, description="why it was unmatched or invalid")
    platform: str | None = None
    external_id: str | None = None


class PushResult(BaseModel):
    """The answer to a pushed batch: counts per status and one entry per item, in order."""

    accepted: int
    duplicate: int
    unmatched: int
    invalid: int
    items: list[PushItem]

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> PushResult:
        """The answer for `outcomes` (in batch order)."""
        items = [
            PushItem(
                index=i,
                status=o.status,
                reason=o.reason,
                platform=o.platform,
                external_id=o.external_id,
            )
            for i, o in enumerate(outcomes)
        ]
        return cls(**tally(outcomes), items=items)

    @property
    def status_code(self) -> int:
        """207 when some items are in the stream (accepted now or before) and others are
        invalid; 202 when items are in the stream and none is invalid; 422 when every item is
        invalid; else 200 (all unmatched, or unmatched and invalid: nothing to queue)."""
        if self.accepted or self.duplicate:
            return 207 if self.invalid else 202
        if self.invalid == len(self.items):
            return 422
        return 200


def parse_batch(body: bytes, *, max_items: int) -> list[Any]:
    """Decode the body into a list of items: a JSON array or `{"mentions": [...]}`."""
    payload = serde.loads(body)
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        payload = payload["mentions"]
    if not isinstance(payload, list):
        raise InvalidRecord('body must be a JSON array of mentions or {"mentions": [...]}')
    if not payload:
        raise InvalidRecord("batch is empty")
    if len(payload) > max_items:
        raise InvalidRecord(f"batch has {len(payload)} items; the limit is {max_items}")
    return payload


def get_ingestor(request: Request) -> Ingestor:
    """The ingest path of the running app."""
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


# Declared so the OpenAPI document shows how to authenticate; `authenticated_body` reads
# the headers itself (a signature needs the body).
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


async def authenticated_body(
    request: Request,
    _key: Annotated[str | None, Depends(_key_header)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> bytes:
    """The body of a push within the size limit whose credentials are valid."""
    settings: IngestSettings = request.app.state.ingest_settings
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        raise HTTPException(413, f"body exceeds {settings.max_body_bytes} bytes")
    authenticator: PushAuthenticator = request.app.state.push_authenticator
    await authenticator.authenticate(request, body)
    return body


def get_ingest_settings(request: Request) -> IngestSettings:
    """The ingest section of the app that serves the push route."""
    settings: IngestSettings = request.app.state.ingest_settings
    return settings


IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
IngestSettingsDep = Annotated[IngestSettings, Depends(get_ingest_settings)]
BodyDep = Annotated[bytes, Depends(authenticated_body)]


@router.post(
    "/mentions",
    status_code=202,
    response_model=PushResult,
    summary="Push a batch of mentions",
    description=(
        "Validates each item, produces the valid ones to `mentions.raw` keyed by brand and "
        "answers per item: `accepted`, `duplicate` (an unchanged repeat of an accepted "
        "mention, not produced again), `unmatched` (no watched brand; not produced, not "
        "dead-lettered) or `invalid` (dead-lettered with its reason). "
        "A batch is judged item by item, never refused for some of its items. "
        "202: every item is in the stream (accepted, or a duplicate), or unmatched. "
        "207 Multi-Status: partly accepted: some items are in the stream and others invalid; "
        "`items` gives each item's outcome (the body is this JSON document, not WebDAV's XML). "
        "200: nothing to queue (every item unmatched, or unmatched and invalid). "
        "422: every item is invalid (`PushResult`), or the body is no batch (`Problem`). "
        "503 + Retry-After: Kafka is unavailable and "
        "nothing of the batch was accepted. 401: the signature (`X-Crisiswatch-Timestamp` + "
        "`X-Crisiswatch-Signature: sha256=<HMAC of '<timestamp>.' + body>`) or the API key "
        "is wrong, expired or replayed, or authentication is required and missing; 403: a "
        "database key whose role is neither `ingest` nor `admin`. With watchlists loaded, "
        "brands are matched from the text; payload brands are kept only when watched."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _BATCH,
                            {
                                "type": "object",
                                "required": ["mentions"],
                                "properties": {"mentions": _BATCH},
                            },
                        ]
                    },
                    "example": _EXAMPLE,
                }
            },
        }
    },
    responses={
        200: {"model": PushResult, "description": "nothing to queue: unmatched and invalid"},
        202: {"model": PushResult, "description": "accepted (or already accepted)"},
        207: {"model": PushResult, "description": "partly accepted: per-item outcomes"},
        401: {"model": Problem, "description": "not authenticated"},
        403: {"model": Problem, "description": "key role may not push"},
        413: {"model": Problem, "description": "body too large"},
        422: {
            "description": "every item invalid (`PushResult`), or the body is no batch (`Problem`)",
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="PushResult")}},
                PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}},
            },
        },
        503: {"model": Problem, "description": "Kafka unavailable; retry later"},
    },
)
async def push_mentions(request: Request, body: BodyDep, ingestor: IngestorDep) -> JSONResponse:
    """Accept a batch of mentions from a pushing client."""
    settings = ingestor.settings
    try:
        batch = parse_batch(body, max_items=settings.max_batch_items)
    except InvalidRecord as exc:
        return problem(422, exc.reason, instance=request.url.path)
    try:
        outcomes = await ingestor.accept([parse(item) for item in batch], source=SOURCE)
    except BrokerUnavailable:
        return problem(
            503,
            "Kafka is unavailable; nothing of this batch was accepted, retry later",
            instance=request.url.path,
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    result = PushResult.of(outcomes)
    return JSONResponse(result.model_dump(mode="json"), status_code=result.status_code)
