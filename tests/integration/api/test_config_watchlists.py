"""A watchlist stored through `PUT /v1/watchlists` is what ingest matches, within seconds.

The real API (its push route runs the ingest path) on real PostgreSQL and Kafka: a brand
unknown to every watchlist is unmatched, is matched once its watchlist is stored, and is
unmatched again once the watchlist is deleted; no restart in between.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from shared import serde
from shared.schemas import Mention
from tests.integration.api.conftest import RunningApi
from tests.kafka_helpers import read_topic, wait_for

POLL_S = 0.5


@pytest.fixture
def api_overrides() -> dict[str, Any]:
    return {"watchlist_poll_s": POLL_S}


def _item(n: int, text: str) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": f"wl-{n}",
        "author": f"user{n}",
        "text": text,
        "created_at": "2026-12-01T10:00:00Z",
    }


async def test_stored_watchlist_is_matched_without_restart(api: RunningApi, unique: str) -> None:
    brand = f"zentrix-{unique}"
    name = f"Zentrix{unique}"
    text = f"My {name} kettle leaks everywhere"
    counter = iter(range(1_000_000))
    accepted = 0

    async def push(client: httpx.AsyncClient) -> str:
        nonlocal accepted
        resp = await client.post("/v1/mentions", json=[_item(next(counter), text)])
        assert resp.status_code in (200, 202), resp.text
        status = str(resp.json()["items"][0]["status"])
        accepted += status == "accepted"
        return status

    async with api.client("admin") as admin:
        assert await push(admin) == "unmatched"
        definition = {"brand": brand, "aliases": [name]}
        stored = await admin.put(f"/v1/watchlists/{brand}", json=definition)
        assert stored.status_code == 201, stored.text
        put_at = time.monotonic()
        # The running API picks the stored watchlist up by polling, without a restart (how
        # fast is printed below, not asserted: these machines are noisy).
        status = await wait_for(
            lambda: push(admin), lambda s: s == "accepted", timeout_s=60, interval_s=0.05
        )
        staleness = time.monotonic() - put_at
        assert status == "accepted", "the stored watchlist never took effect"

        deleted = await admin.delete(f"/v1/watchlists/{brand}")
        assert deleted.status_code == 204
        gone = await wait_for(
            lambda: push(admin), lambda s: s == "unmatched", timeout_s=60, interval_s=0.05
        )
        assert gone == "unmatched", "the deleted watchlist still matched"

    records = await read_topic(
        api.ingest.bootstrap_servers, api.ingest.topic_raw, expected=accepted
    )
    mentions = [serde.decode(Mention, r.value) for r in records]
    assert len(mentions) == accepted >= 1
    assert all(m.brands == [brand] and name in m.text for m in mentions)
    print(f"stored watchlist matched {staleness:.2f}s after its PUT (poll every {POLL_S}s)")
