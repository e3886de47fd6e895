"""Meta Graph API look-ups for Instagram `mentions` webhooks, which carry ids only.

A mention in a comment is read with `GET /{ig-user-id}?fields=mentioned_comment.comment_id(ID)
{text,timestamp,username,...}`, one in a caption with `mentioned_media.media_id(ID){caption,
timestamp,permalink,username,...}`. Network errors, 429 and 5xx are retried a few times with
back-off; any other failure is final and the caller dead-letters the delivery with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.ingest.sources.fetch import ForbiddenAddress, check_url, make_client
from shared import serde
from shared.errors import CrisiswatchError, InvalidRecord
from shared.settings.ingest import IngestSettings

COMMENT_FIELDS = "text,timestamp,username,like_count,media{id,permalink}"
MEDIA_FIELDS = "caption,timestamp,permalink,username,like_count,comments_count"


class GraphFetchError(CrisiswatchError):
    """A mention's text could not be fetched; `reason` says why (for the dead letter)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def fetch_mention(settings: IngestSettings, value: dict[str, Any]) -> dict[str, Any]:
    """The mentioned comment or media of one `mentions` change value, as the Graph returns it."""
    token, user_id = settings.meta_access_token, settings.meta_ig_user_id
    if token is None or not user_id:
        raise GraphFetchError("Graph API not configured: set META_ACCESS_TOKEN and META_IG_USER_ID")
    comment_id, media_id = value.get("comment_id"), value.get("media_id")
    if comment_id:
        edge, fields = "mentioned_comment", f"mentioned_comment.comment_id({comment_id})"
        fields += f"{{{COMMENT_FIELDS}}}"
    elif media_id:
        edge, fields = "mentioned_media", f"mentioned_media.media_id({media_id}){{{MEDIA_FIELDS}}}"
    else:
        raise GraphFetchError("mentions change has neither comment_id nor media_id")
    url = f"{settings.meta_graph_base_url.rstrip('/')}/{user_id}"
    try:
        await check_url(url, allow_private=settings.fetch_allow_private)
    except ForbiddenAddress as exc:
        raise GraphFetchError(f"Graph API URL refused: {exc}") from exc
    params = {"fields": fields, "access_token": token.get_secret_value()}
    body = await _get(settings, url, params)
    found = body.get(edge) if isinstance(body, dict) else None
    if not isinstance(found, dict):
        raise GraphFetchError(f"Graph API answer has no {edge}")
    return found


async def _get(settings: IngestSettings, url: str, params: dict[str, str]) -> Any:
    """GET with bounded retries on network errors, 429 and 5xx."""
    attempts = settings.meta_graph_retries + 1
    reason = "no attempt made"
    async with make_client(settings) as client:
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(0.5 * 2 ** (attempt - 1) * settings.backoff_scale)
            try:
                response = await client.get(url, params=params)
            except httpx.HTTPError as exc:
                reason = f"Graph API unreachable: {type(exc).__name__}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                reason = f"Graph API HTTP {response.status_code}: {_error_message(response)}"
                continue
            if response.status_code >= 400:
                raise GraphFetchError(
                    f"Graph API HTTP {response.status_code}: {_error_message(response)}"
                )
            try:
                return serde.loads(response.content)
            except InvalidRecord as exc:
                raise GraphFetchError(f"Graph API answer is not JSON: {exc.reason}") from exc
    raise GraphFetchError(f"{reason} (after {attempts} attempts)")


def _error_message(response: httpx.Response) -> str:
    """The Graph error message (`{"error": {"message": ...}}`), never echoing the token."""
    try:
        message = str(serde.loads(response.content)["error"]["message"])
    except (InvalidRecord, KeyError, TypeError):
        message = response.reason_phrase
    return message[:200]
