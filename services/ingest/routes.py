"""HTTP push endpoint of the ingest service: `POST /v1/mentions`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from services.ingest.auth import PushAuthenticator
from services.ingest.pipeline import Ingestor
from services.ingest.publisher import MentionPublisher
from services.ingest.push import BrandResolver, parse_batch, validate_items
from shared.errors import BrokerUnavailable, InvalidRecord
from shared.settings.ingest import IngestSettings

router = APIRouter(prefix="/v1", tags=["ingest"])

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


def get_settings(request: Request) -> IngestSettings:
    """The ingest settings of the running app."""
    settings: IngestSettings = request.app.state.ingest_settings
    return settings


def get_publisher(request: Request) -> MentionPublisher:
    """The publisher of the running app."""
    publisher: MentionPublisher = request.app.state.publisher
    return publisher


def get_resolver(request: Request) -> BrandResolver:
    """How the running app decides which brands a mention is about."""
    resolver: BrandResolver = request.app.state.brand_resolver
    return resolver


def get_ingestor(request: Request) -> Ingestor:
    """The shared ingest path (matching, de-duplication) of the running app."""
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def get_authenticator(request: Request) -> PushAuthenticator:
    """The push authenticator of the running app."""
    authenticator: PushAuthenticator = request.app.state.push_authenticator
    return authenticator


SettingsDep = Annotated[IngestSettings, Depends(get_settings)]
PublisherDep = Annotated[MentionPublisher, Depends(get_publisher)]
ResolverDep = Annotated[BrandResolver, Depends(get_resolver)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]
AuthDep = Annotated[PushAuthenticator, Depends(get_authenticator)]


@router.post(
    "/mentions",
    status_code=202,
    summary="Push a batch of mentions",
    description=(
        "Validates each item, produces the valid ones to `mentions.raw` keyed by brand and "
        "answers per item. 202: all accepted. 422: at least one item was rejected (its reason "
        "is given; the valid items were still accepted and rejected ones dead-lettered). "
        "503 + Retry-After: Kafka is unavailable and nothing of the batch was accepted. "
        "401: the signature (`X-Crisiswatch-Timestamp` + `X-Crisiswatch-Signature: "
        "sha256=<HMAC of '<timestamp>.' + body>`) or the `X-API-Key` is wrong, expired or "
        "replayed, or authentication is required and missing. With watchlists loaded, "
        "brands are matched from the text; payload brands are kept only when watched. "
        "Unchanged repeats of an accepted mention are accepted but not produced again."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}},
                    "example": _EXAMPLE,
                }
            },
        }
    },
    responses={
        401: {"description": "not authenticated"},
        422: {"description": "some items rejected"},
        503: {"description": "retry later"},
    },
)
async def push_mentions(
    request: Request,
    settings: SettingsDep,
    publisher: PublisherDep,
    resolver: ResolverDep,
    ingestor: IngestorDep,
    authenticator: AuthDep,
) -> JSONResponse:
    """Accept a batch of mentions from a pushing client."""
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        return JSONResponse(
            {"detail": f"body exceeds {settings.max_body_bytes} bytes"}, status_code=413
        )
    refusal = authenticator.check(request.headers, body)
    if refusal:
        return JSONResponse({"detail": refusal}, status_code=401)
    source = "push"
    try:
        items = parse_batch(body, max_items=settings.max_batch_items)
    except InvalidRecord as exc:
        return JSONResponse({"detail": exc.reason}, status_code=422)
    results = validate_items(
        items,
        resolve_brands=resolver,
        secret=settings.pseudonym_secret.get_secret_value().encode(),
        keep_handles=settings.keep_raw_handles,
        max_chars=settings.max_text_chars,
    )
    publisher.count_received(source, len(results))
    accepted = [r.mention for r in results if r.mention is not None]
    rejected = [r for r in results if r.mention is None]
    fresh = ingestor.dedupe(accepted, source=source)
    try:
        # Rejects first: if Kafka fails midway nothing valid was produced yet, so the 503's
        # "nothing accepted" holds (a retry may dead-letter a reject twice, never lose one).
        for r in rejected:
            await publisher.reject(r.raw, r.reason or "rejected", source=source, code=r.code or "")
        await publisher.publish(fresh, source=source)
        ingestor.remember(fresh)
    except BrokerUnavailable:
        return JSONResponse(
            {"detail": "Kafka is unavailable; nothing of this batch was accepted, retry later"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    body_out: dict[str, Any] = {
        "accepted": len(accepted),
        "rejected": len(rejected),
        "items": [r.as_json() for r in results],
    }
    return JSONResponse(body_out, status_code=422 if rejected else 202)
