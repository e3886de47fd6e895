"""The Meta webhook source: Facebook Page feed comments and Instagram comments and mentions.

`GET` answers Meta's subscription handshake (`hub.mode=subscribe`, `hub.verify_token`,
`hub.challenge`); `POST` carries `{"object": "page"|"instagram", "entry": [{"id",
"changes": [{"field", "value"}]}]}` signed with `X-Hub-Signature-256`. A change on a page
or account listed in a watchlist belongs to that brand even when the text does not name it.
Instagram `mentions` changes carry ids only: their text is fetched from the Graph API first
(`sources.meta_graph`); a change whose fetch fails is dead-lettered with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.ingest.core.assess import Candidate, Rejected
from services.ingest.pipeline import Ingestor
from services.ingest.sources.base import candidate
from services.ingest.sources.meta_graph import GraphFetchError, fetch_mention
from services.ingest.sources.push import PushResult
from services.ingest.sources.push_auth import check_hub_signature
from shared import serde
from shared.errors import BrokerUnavailable, InvalidRecord
from shared.http.problems import problem
from shared.settings.ingest import IngestSettings

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
SOURCE = "meta"


def _owners(ingestor: Ingestor) -> dict[str, str]:
    owners: dict[str, str] = {}
    for watchlist in ingestor.watchlists.watchlists:
        for page in [*watchlist.sources.meta.pages, *watchlist.sources.meta.instagram_accounts]:
            owners.setdefault(page, watchlist.brand)
    return owners


def _created(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("+0000", "+00:00"))
    return datetime.now(UTC)


def change_fields(obj: str, owner_id: str, change: dict[str, Any]) -> dict[str, Any] | None:
    """One `entry[].changes[]` item as `MentionIn` fields; None for changes that are no text."""
    field, value = change["field"], change["value"]
    if obj == "page" and field == "feed":
        if value.get("item") not in {"comment", "post", "status"} or value.get("verb") == "remove":
            return None
        external = value.get("comment_id") or value.get("post_id")
        return {
            "platform": "facebook",
            "external_id": external,
            "author": value["from"]["id"],
            "text": value["message"],
            "created_at": _created(value.get("created_time")),
            "in_reply_to": value.get("parent_id") if value.get("item") == "comment" else None,
            "kind": "updated" if value.get("verb") == "edited" else "created",
            "source": {"page": owner_id, "post": value.get("post_id")},
        }
    if obj == "instagram" and field in {"comments", "live_comments"}:
        return {
            "platform": "instagram",
            "external_id": value["id"],
            "author": value["from"]["id"],
            "text": value["text"],
            "created_at": datetime.now(UTC),
            "in_reply_to": value.get("parent_id"),
            "source": {"account": owner_id, "media": (value.get("media") or {}).get("id")},
        }
    if obj == "instagram" and field == "mentions":
        # The text comes with the delivery or from `fetch_mentions` (the Graph API).
        return {
            "platform": "instagram",
            "external_id": value.get("comment_id") or value["media_id"],
            "url": value.get("permalink"),
            "author": (value.get("from") or {}).get("id") or "unknown",
            "text": value["text"],
            "created_at": _created(value.get("timestamp")),
            "source": {"account": owner_id, "media": value.get("media_id")},
        }
    return None


def _mention_changes(payload: Any) -> list[dict[str, Any]]:
    """The Instagram `mentions` changes of a delivery that arrived without their text."""
    if not isinstance(payload, dict) or payload.get("object") != "instagram":
        return []
    found: list[dict[str, Any]] = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if (
                isinstance(change, dict)
                and change.get("field") == "mentions"
                and isinstance(change.get("value"), dict)
                and not change["value"].get("text")
            ):
                found.append(change)
    return found


async def fetch_mentions(payload: Any, settings: IngestSettings) -> list[Rejected]:
    """Fill in the text of id-only Instagram mentions from the Graph API (in place).

    A change whose fetch fails is removed from the delivery and returned as a `Rejected`
    carrying the change and the reason, so it is dead-lettered rather than dropped.
    """
    changes = _mention_changes(payload)
    rejects: list[Rejected] = []
    for change in changes:
        value = change["value"]
        try:
            found = await fetch_mention(settings, value)
        except GraphFetchError as exc:
            rejects.append(Rejected(serde.dumps(change), exc.reason, "graph_fetch_failed"))
            change["field"] = "mentions_unavailable"  # no longer parsed as a mention
            continue
        text = found.get("text") if value.get("comment_id") else found.get("caption")
        value["text"] = text or ""
        if found.get("username"):
            value["from"] = {"id": found["username"], "username": found["username"]}
        value["timestamp"] = found.get("timestamp")
        value["permalink"] = found.get("permalink") or (found.get("media") or {}).get("permalink")
    return rejects


def parse_delivery(payload: Any, owners: dict[str, str]) -> list[Candidate]:
    """Every change of one webhook delivery as a candidate (or a rejection)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise InvalidRecord("not a Meta webhook delivery: missing entry[]")
    obj = payload.get("object", "")
    items: list[Candidate] = []
    for entry in payload["entry"]:
        owner_id = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        changes = entry.get("changes", []) if isinstance(entry, dict) else []
        for change in changes:

            def build(c: Any, owner_id: str = owner_id) -> dict[str, Any] | None:
                fields = change_fields(obj, owner_id, c)
                if fields is not None and owner_id in owners:
                    fields["brands"] = [owners[owner_id]]
                return fields

            item = candidate(change, build)
            if item is not None:
                items.append(item)
    return items


@router.get("/meta", summary="Meta webhook subscription handshake")
async def verify(
    request: Request,
    mode: str = Query(alias="hub.mode"),
    token: str = Query(alias="hub.verify_token"),
    challenge: str = Query(alias="hub.challenge"),
) -> Response:
    """Echo `hub.challenge` when the verify token is ours."""
    expected = request.app.state.ingest_settings.meta_verify_token
    if mode != "subscribe" or expected is None or token != expected.get_secret_value():
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(challenge)


@router.post(
    "/meta",
    summary="Meta webhook deliveries (Page feed, Instagram)",
    responses={200: {"model": PushResult, "description": "one outcome per change"}},
)
async def deliver(request: Request) -> Response:
    """Check the signature, then ingest every change; 503 makes Meta retry later.

    Any processed delivery answers 200 (Meta retries anything else), with the outcome of
    each change as a push would get it; invalid changes are dead-lettered.
    """
    settings = request.app.state.ingest_settings
    ingestor: Ingestor = request.app.state.ingestor
    body = await request.body()
    secret = settings.meta_app_secret
    if secret is None:
        return problem(404, "Meta webhooks are not configured", instance=request.url.path)
    if not check_hub_signature(
        secret.get_secret_value().encode(), body, request.headers.get("x-hub-signature-256")
    ):
        return problem(401, "invalid X-Hub-Signature-256", instance=request.url.path)
    try:
        payload = serde.loads(body)
        rejects = await fetch_mentions(payload, settings)
        items = [*parse_delivery(payload, _owners(ingestor)), *rejects]
    except InvalidRecord as exc:
        try:
            await ingestor.publisher.reject(body, exc.reason, source=SOURCE, code="invalid_payload")
        except BrokerUnavailable:
            return _retry_later(settings.retry_after_s)
        return problem(400, exc.reason, instance=request.url.path)
    try:
        outcomes = await ingestor.accept(items, source=SOURCE)
    except BrokerUnavailable:
        return _retry_later(settings.retry_after_s)
    return JSONResponse(PushResult.of(outcomes).model_dump(mode="json"))


def _retry_later(seconds: int) -> Response:
    return problem(503, "Kafka is unavailable, retry later", headers={"Retry-After": str(seconds)})
