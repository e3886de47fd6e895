"""Outbound HTTP for connectors: one httpx client factory and a private-address guard.

Feed URLs come from watchlists that operators edit, so a URL could point at internal
services (SSRF). Hosts resolving to private, loopback, link-local or reserved addresses
are refused unless `fetch_allow_private` is set (tests run servers on 127.0.0.1); every
client connects through `PinnedTransport`, so the address checked is the one connected to.
"""

from __future__ import annotations

import httpx

from shared.net import ForbiddenAddress, PinnedTransport, check_url
from shared.settings.ingest import IngestSettings

__all__ = ["ForbiddenAddress", "check_url", "make_client"]


def make_client(
    settings: IngestSettings,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
) -> httpx.AsyncClient:
    """An httpx client with the connector timeout; redirects are never followed blindly."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout or httpx.Timeout(settings.connector_http_timeout_s),
        follow_redirects=False,
        transport=PinnedTransport(allow_private=settings.fetch_allow_private),
        headers={"User-Agent": "crisiswatch/0.1", **(headers or {})},
    )
