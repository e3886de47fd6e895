"""The SSRF guard pins the address it checked: one resolution per request, the connection
goes to that address (never to a second answer of a rebinding DNS server), and private
answers are refused before anything is sent. Against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ingest.sources.fetch import make_client
from shared.net import ForbiddenAddress, PinnedTransport
from shared.settings.ingest import IngestSettings
from tests.integration.ingest.conftest import local_server


class Recorder:
    """Requests the local server received."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def echo(self, request: Request) -> JSONResponse:
        self.hosts.append(request.headers["host"])
        return JSONResponse({"host": request.headers["host"], "path": request.url.path})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    app = Starlette(routes=[Route("/{path:path}", recorder.echo)])
    async with local_server(app) as base:
        recorder.hosts.clear()  # the readiness ping of local_server
        yield base, recorder


class RebindingResolver:
    """A DNS server under an attacker's control: a different answer on every lookup."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_the_checked_address_is_the_one_connected_to(
    server: tuple[str, Recorder],
) -> None:
    base, _ = server
    port = base.rsplit(":", 1)[1]
    # First answer: where the server listens. Any later one: an address nobody serves.
    dns = RebindingResolver(["127.0.0.1"], ["127.0.0.2"])
    transport = PinnedTransport(allow_private=True, resolver=dns)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://feed.example:{port}/rss")
    assert response.status_code == 200
    # The name was resolved once, by the guard; the request reached the checked address
    # with the URL's host in the Host header.
    assert dns.lookups == ["feed.example"]
    assert response.json() == {"host": f"feed.example:{port}", "path": "/rss"}


async def test_a_private_answer_is_refused_before_anything_is_sent(
    server: tuple[str, Recorder],
) -> None:
    base, recorder = server
    port = base.rsplit(":", 1)[1]
    dns = RebindingResolver(["127.0.0.1"])
    transport = PinnedTransport(allow_private=False, resolver=dns)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(ForbiddenAddress, match=r"non-public 127\.0\.0\.1"):
            await client.get(f"http://feed.example:{port}/rss")
    mixed = RebindingResolver(["93.184.215.14", "10.0.0.7"])
    async with httpx.AsyncClient(
        transport=PinnedTransport(allow_private=False, resolver=mixed)
    ) as client:
        with pytest.raises(ForbiddenAddress, match=r"10\.0\.0\.7"):
            await client.get("http://shop.example/feed")
    assert recorder.hosts == []


async def test_connector_clients_are_guarded_without_a_separate_check(
    server: tuple[str, Recorder],
) -> None:
    base, recorder = server
    guarded = IngestSettings(_env_file=None, fetch_allow_private=False)
    async with make_client(guarded) as client:
        with pytest.raises(ForbiddenAddress):
            await client.get(f"{base}/feed")
        with pytest.raises(ForbiddenAddress):
            await client.get(f"http://localhost:{base.rsplit(':', 1)[1]}/feed")
    assert recorder.hosts == []
    trusted = IngestSettings(_env_file=None, fetch_allow_private=True)
    async with make_client(trusted) as client:
        assert (await client.get(f"{base}/feed")).status_code == 200
    assert len(recorder.hosts) == 1
