"""Outbound address guard: hosts resolving to private, loopback, link-local or reserved
addresses are refused unless explicitly allowed (SSRF protection for fetchers and webhooks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from shared.errors import CrisiswatchError


class ForbiddenAddress(CrisiswatchError):
    """An outbound request was aimed at a private or loopback address."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise `ForbiddenAddress` unless every address of the URL's host is public."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "ws", "wss"} or not parts.hostname:
        raise ForbiddenAddress(f"refusing to fetch {url!r}: not an http(s) URL")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise ForbiddenAddress(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise ForbiddenAddress(
                f"refusing to fetch {url!r}: {parts.hostname} resolves to non-public {address}"
            )
