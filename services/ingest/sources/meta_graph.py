"""Meta Graph API look-ups for Instagram `mentions` webhooks, which carry ids only.

A mention in a comment is read with `GET /{ig-user-id}?fields=mentioned_comment.comment_id(ID)
{text,timestamp,username,...}`, one in a caption with `mentioned_media.media_id(ID){caption,
timestamp,permalink,username,...}`. Network errors, 429 and 5xx are retried a few times with
jittered back-off (at least a 429's Retry-After); any other failure is final and the caller
dead-letters the delivery with the reason.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.ingest.sources.fetch import ForbiddenAddress, check_url, make_client
from shared import serde
from shared.errors import CrisiswatchError, InvalidRecord
from shared.resilience import Backoff, parse_retry_after, retry
from shared.settings.ingest import IngestSettings

COMMENT_FIELDS = "text,timestamp,username,like_count,media{id,permalink}"
MEDIA_FIELDS = "caption,timestamp,permalink,username,like_count,comments_count"
# Longest wait between Graph retries: the webhook delivery that needs the text is waiting.
_MAX_WAIT_S = 30.0


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


class _Retryable(CrisiswatchError):
    """A Graph answer worth another try: a network error, 429 or 5xx."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


async def _get(settings: IngestSettings, url: str, params: dict[str, str]) -> Any:
    """GET with bounded, jittered retries on network errors, 429 and 5xx (Retry-After kept)."""
    attempts = settings.meta_graph_retries + 1
    scale = settings.backoff_scale
    async with make_client(settings) as client:

        async def once() -> Any:
            try:
                response = await client.get(url, params=params)
            except httpx.HTTPError as exc:
                # Not chained: the cause's message can carry the URL and its access token.
                raise _Retryable(f"Graph API unreachable: {type(exc).__name__}") from None
            code = response.status_code
            if code == 429 or code >= 500:
                wait = parse_retry_after(response.headers.get("retry-after"), max_s=_MAX_WAIT_S)
                raise _Retryable(f"Graph API HTTP {code}: {_error_message(response)}", wait)
            if code >= 400:
                raise GraphFetchError(f"Graph API HTTP {code}: {_error_message(response)}")
            try:
                return serde.loads(response.content)
            except InvalidRecord as exc:
                raise GraphFetchError(f"Graph API answer is not JSON: {exc.reason}") from exc

        try:
            return await retry(
                once,
                retry_if=lambda exc: isinstance(exc, _Retryable),
                backoff=Backoff(base_s=0.5 * scale, cap_s=_MAX_WAIT_S * scale),
                attempts=attempts,
                retry_after=lambda exc: getattr(exc, "retry_after_s", None),
            )
        except _Retryable as exc:
            raise GraphFetchError(f"{exc.reason} (after {attempts} attempts)") from None


def _error_message(response: httpx.Response) -> str:
    """The Graph error message (`{"error": {"message": ...}}`), never echoing the token."""
    try:
        message = str(serde.loads(response.content)["error"]["message"])
    except (InvalidRecord, KeyError, TypeError):
        message = response.reason_phrase
    return message[:200]
