"""HTTP plumbing shared by the Slack and webhook notifiers (httpx)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from services.alerting.notify.channels.base import PermanentDeliveryError, TransientDeliveryError
from shared.net import PinnedTransport
from shared.resilience import parse_retry_after

# Failures before the request left this host: the receiver cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def retry_after(response: httpx.Response) -> float | None:
    """Return the `Retry-After` seconds of a response (at most an hour), if it has a usable one."""
    return parse_retry_after(response.headers.get("Retry-After"))


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Map a non-2xx response to a transient (429, 5xx) or permanent (other 4xx) error."""
    code = response.status_code
    if code < 300:
        return
    if code == 429:
        raise TransientDeliveryError(
            f"{what}: rate limited (429)", retry_after_s=retry_after(response)
        )
    if code >= 500 or code == 408:
        raise TransientDeliveryError(f"{what}: HTTP {code}", retry_after_s=retry_after(response))
    raise PermanentDeliveryError(f"{what}: HTTP {code}")


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    json: Any = None,
) -> httpx.Response:
    """POST and classify errors; exception messages never include the URL or headers."""
    return await _request(
        client, "POST", url, what=what, headers=headers, content=content, json=json
    )


async def get(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """GET and classify errors like `post`."""
    return await _request(client, "GET", url, what=what, headers=headers, params=params)


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None,
    content: bytes | None = None,
    json: Any = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    try:
        response = await client.request(
            method, url, headers=headers, content=content, json=json, params=params
        )
    except httpx.TransportError as exc:
        # Not chained: the cause's message can carry the URL, which is a secret for Slack.
        raise TransientDeliveryError(
            f"{what}: {type(exc).__name__}", maybe_delivered=not isinstance(exc, _NOT_SENT)
        ) from None
    raise_for_status(response, what)
    return response


def new_client(timeout_s: float, *, guard_private: bool | None = None) -> httpx.AsyncClient:
    """An HTTP client with bounded timeouts and no automatic redirects.

    With `guard_private` set (True: refuse private addresses; False: allow them), it
    connects through `PinnedTransport`: only to the addresses it resolved and checked.
    """
    transport = None if guard_private is None else PinnedTransport(allow_private=not guard_private)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s), follow_redirects=False, transport=transport
    )
