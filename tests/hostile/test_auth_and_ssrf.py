"""Push signatures (wrong, missing, expired, replayed) are refused over HTTP; connectors refuse
private and loopback addresses unless explicitly allowed (SSRF)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from services.api.app import create_app
from services.ingest.sources.fetch import ForbiddenAddress, check_url
from services.ingest.sources.push_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "hostile-webhook-secret-0b7e"


def _body(unique: str, n: int) -> bytes:
    item = {
        "platform": "x",
        "external_id": f"sig-{unique}-{n}",
        "author": "someone",
        "text": "signed push",
        "created_at": "2026-01-01T00:00:00Z",
        "brands": [f"sig-{unique}"],
    }
    return orjson.dumps([item])


@pytest.fixture
async def client(api_sections: Any) -> Any:
    settings, ingest = api_sections(
        push_hmac_secret=SecretStr(SECRET),
        ingest_require_auth=True,
        signature_max_age_s=60,
        retention_interval_s=0,
    )
    app = create_app(settings, ingest, registry=CollectorRegistry())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


def _headers(ts: int, signature: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts)}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return headers


async def test_signed_push_passes_once_and_every_forgery_is_refused(
    client: httpx.AsyncClient, unique: str
) -> None:
    now = int(time.time())
    good = _body(unique, 1)
    ok = await client.post(
        "/v1/mentions", content=good, headers=_headers(now, sign(SECRET.encode(), now, good))
    )
    assert ok.status_code == 202, ok.text

    replay = await client.post(
        "/v1/mentions", content=good, headers=_headers(now, sign(SECRET.encode(), now, good))
    )
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]

    body = _body(unique, 2)
    cases = {
        "wrong": _headers(now, sign(b"not-the-secret", now, body)),
        "tampered": _headers(now, sign(SECRET.encode(), now, _body(unique, 3))),
        "missing": {"Content-Type": "application/json"},
        "expired": _headers(now - 3600, sign(SECRET.encode(), now - 3600, body)),
        "future": _headers(now + 3600, sign(SECRET.encode(), now + 3600, body)),
        "no timestamp": {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(SECRET.encode(), now, body),
        },
    }
    for name, headers in cases.items():
        resp = await client.post("/v1/mentions", content=body, headers=headers)
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert SECRET not in resp.text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://localhost:8080/feed",
        "http://10.0.0.5/feed",
        "http://192.168.1.1/feed",
        "http://172.16.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "http://[::ffff:127.0.0.1]/feed",
        "http://0.0.0.0/feed",
        "http://2130706433/feed",
        "http://100.64.0.1/feed",
        "file:///etc/passwd",
        "gopher://127.0.0.1:25/",
    ],
)
async def test_connectors_refuse_private_and_loopback_targets(url: str) -> None:
    with pytest.raises(ForbiddenAddress):
        await check_url(url, allow_private=False)


async def test_private_targets_allowed_only_when_configured() -> None:
    await check_url("http://127.0.0.1:8080/feed", allow_private=True)
    with pytest.raises(ForbiddenAddress):
        await check_url("file:///etc/passwd", allow_private=True)
