"""Outbound address guard: hosts resolving to private, loopback, link-local or reserved
addresses are refused unless explicitly allowed (SSRF protection for fetchers and webhooks).

`check_url` checks a URL before a client that cannot be pinned connects (websockets).
`PinnedTransport` is the guard for httpx: it resolves the host once, checks every address,
and connects to a checked address itself (the `Host` header and TLS server name stay the
host's), so a DNS answer that changes between check and connection (rebinding) cannot
redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import CrisiswatchError

# host, port -> addresses, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class ForbiddenAddress(CrisiswatchError):
    """An outbound request was aimed at a private or loopback address."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (system resolver), without duplicates, in its order."""
    if _literal(host):
        return [host]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ForbiddenAddress(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refuse_private(host: str, addresses: list[str], what: str) -> None:
    for address in addresses:
        if not _is_public(address):
            raise ForbiddenAddress(
                f"refusing to fetch {what!r}: {host} resolves to non-public {address}"
            )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise `ForbiddenAddress` unless every address of the URL's host is public."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "ws", "wss"} or not parts.hostname:
        raise ForbiddenAddress(f"refusing to fetch {url!r}: not an http(s) URL")
    if allow_private:
        return
    addresses = await resolve(parts.hostname, parts.port or 443)
    _refuse_private(parts.hostname, addresses, url)


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to the addresses it checked.

    Each request resolves its host once (`resolver`), refuses it (`ForbiddenAddress`) when
    any address is not public and `allow_private` is false, then connects to the checked
    addresses in turn, the URL's host kept in the `Host` header and as the TLS server name
    (certificates are verified against the host, not the address).
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = resolve,
        **transport: Any,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._inner = httpx.AsyncHTTPTransport(**transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` to a checked address of its host."""
        url = request.url
        if url.scheme not in {"http", "https"} or not url.host:
            raise ForbiddenAddress(f"refusing to fetch {url.scheme}:// URLs")
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self._resolver(host, port)
        if not addresses:
            raise ForbiddenAddress(f"cannot resolve {host!r}: no address")
        if not self._allow_private:
            _refuse_private(host, addresses, f"{url.scheme}://{host}")
        extensions = dict(request.extensions)
        if url.scheme == "https" and not _literal(host):
            extensions["sni_hostname"] = host
        failure: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=address),
                headers=request.headers,  # carries Host: <the URL's host>
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # not connected: nothing was sent, try the next
                failure = exc
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()
