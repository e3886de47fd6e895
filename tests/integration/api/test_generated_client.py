"""A Python client generated from the served OpenAPI document (openapi-python-client) works
against the real API: typed pushes, typed answers, and every error parsed as a `Problem`.

The generator lives in its own environment (its pins clash with ours); `make install` puts
it in ~/.cache/crisiswatch/tools/openapi-python-client (override: OPENAPI_PYTHON_CLIENT_DIR).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.integration.api.conftest import RunningApi

GENERATOR = Path(
    os.environ.get(
        "OPENAPI_PYTHON_CLIENT_DIR",
        Path.home() / ".cache" / "crisiswatch" / "tools" / "openapi-python-client",
    )
)
PACKAGE = "crisiswatch_generated_client"


@pytest.fixture
async def generated(api: RunningApi, tmp_path: Path) -> AsyncIterator[ModuleType]:
    """The client package generated from the running API's /openapi.json, imported."""
    assert (GENERATOR / "openapi_python_client").is_dir(), (
        f"openapi-python-client is not installed in {GENERATOR}: run `make install`"
    )
    async with api.client() as client:
        document = (await client.get("/openapi.json")).json()
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(source),
         "--output-path", str(tmp_path / PACKAGE), "--meta", "none"],
        env={**os.environ, "PYTHONPATH": str(GENERATOR)},
        cwd=tmp_path, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _client(api: RunningApi, role: str) -> Any:
    return _module("client").AuthenticatedClient(
        base_url=api.base_url, token=api.keys[role], prefix="", auth_header_name="X-API-Key"
    )


async def test_the_generated_client_pushes_reads_and_parses_problems(
    api: RunningApi, generated: ModuleType, unique: str
) -> None:
    models = _module("models")
    mention = models.MentionIn.from_dict(
        {
            "platform": "x",
            "external_id": f"generated-{unique}",
            "author": "someone",
            "text": "the acme blender caught fire",
            "created_at": "2026-11-25T09:30:00Z",
            "brands": ["acme"],
        }
    )
    push = _module("api.ingest.push_mentions")
    pushed = await push.asyncio_detailed(client=_client(api, "ingest"), body=[mention])
    assert pushed.status_code == 202, pushed.content
    assert isinstance(pushed.parsed, models.PushResult)
    assert pushed.parsed.accepted == 1 and pushed.parsed.items[0].status.value == "accepted"

    responder = _client(api, "responder")
    listed = await _module("api.incidents.list_incidents").asyncio_detailed(client=responder)
    assert listed.status_code == 200 and isinstance(listed.parsed, models.IncidentPage)

    missing = await _module("api.incidents.get_incident").asyncio_detailed(
        client=responder, incident_id=987654321
    )
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert missing.parsed.status == 404 and "987654321" in missing.parsed.detail

    now = datetime.now(UTC)
    trends = await _module("api.trends.get_trends").asyncio_detailed(
        client=responder, brand=["acme"], start=now - timedelta(days=1), end=now
    )
    assert trends.status_code == 200, trends.content
    assert trends.parsed is not None and not isinstance(trends.parsed, models.Problem)

    anonymous = _module("client").AuthenticatedClient(base_url=api.base_url, token="wrong")
    refused = await _module("api.incidents.list_incidents").asyncio_detailed(client=anonymous)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Problem)
    assert refused.parsed.title == "Unauthorized"
