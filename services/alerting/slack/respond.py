"""Post a message update to Slack's `response_url` (valid 30 minutes, up to 5 times).

Only URLs on the configured hosts are called (the URL arrives in a request body; even a
signed one must not make the API call arbitrary hosts). Failures are logged, never raised:
the action itself is already committed and audited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from services.alerting.notify.channels.base import DeliveryError
from services.alerting.notify.channels.http import new_client, post

log = logging.getLogger(__name__)


def allowed(url: str, *, hosts: Sequence[str], allow_http: bool) -> bool:
    """Whether `url` is an https (or, when allowed, http) URL on one of `hosts`."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    return parts.scheme in schemes and (parts.hostname or "") in hosts


async def post_response(
    url: str,
    body: dict[str, Any],
    *,
    hosts: Sequence[str],
    allow_http: bool,
    timeout_s: float = 5.0,
) -> bool:
    """POST `body` to the response URL; return whether Slack accepted it."""
    if not allowed(url, hosts=hosts, allow_http=allow_http):
        log.warning("slack response_url refused: host not in slack_response_hosts")
        return False
    async with new_client(timeout_s) as client:
        try:
            await post(client, url, what="slack response_url", json=body)
        except DeliveryError as exc:
            log.warning("slack response_url failed: %s", exc)
            return False
    return True
