"""Playbooks stored in PostgreSQL: CRUD through /v1/playbooks (roles, audit, set checks), and
`crisiswatch playbooks import|export`.

Every test leaves the `playbooks` table empty again (the packaged playbooks in force), as
the test session shares one database.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.playbooks.files import playbooks_cli
from services.alerting.playbooks.loader import default_playbooks, load_playbooks
from services.alerting.playbooks.store import as_document
from shared.db.config_models import PlaybookRow
from shared.db.engine import create_engine, transaction
from shared.settings.common import CommonSettings
from tests.integration.api.conftest import RunningApi


async def clear_playbooks(engine: AsyncEngine) -> None:
    """Back to the packaged playbooks (nothing stored)."""
    async with transaction(engine) as session:
        await session.execute(delete(PlaybookRow))


@pytest.fixture
async def stored_playbooks(db_engine: AsyncEngine) -> AsyncIterator[None]:
    """Playbooks the test stores are deleted again."""
    await clear_playbooks(db_engine)
    yield
    await clear_playbooks(db_engine)


def _document(name: str) -> dict[str, Any]:
    return copy.deepcopy(as_document(default_playbooks()[name]))


async def test_put_delete_with_roles_checks_and_audit(
    api: RunningApi, db_engine: AsyncEngine, stored_playbooks: None, unique: str
) -> None:
    recall = _document("recall")
    recall["steps"][0]["title"] = f"Call the {unique} recall desk"
    recall["holding_statements"]["en"] = "{brand} is recalling the affected batch. " + unique
    async with api.client("responder") as responder, api.client("admin") as admin:
        listed = await responder.get("/v1/playbooks")
        assert listed.status_code == 200
        assert {b["name"] for b in listed.json()} == set(default_playbooks())
        assert (await responder.put("/v1/playbooks/recall", json=recall)).status_code == 403

        resp = await admin.put("/v1/playbooks/recall", json=recall)
        assert resp.status_code == 200, resp.text  # replaced: the packaged set was seeded
        got = (await responder.get("/v1/playbooks/recall")).json()
        assert got["steps"][0]["title"] == f"Call the {unique} recall desk"
        assert got["holding_statements"]["en"].endswith(unique)
        async with transaction(db_engine) as session:
            stored = await session.scalar(select(func.count()).select_from(PlaybookRow))
        assert stored == len(default_playbooks())

        # A new playbook for a category already served: 409; an unknown category: 422.
        clash = {**_document("recall"), "name": f"recall_{unique}"}
        resp = await admin.put(f"/v1/playbooks/recall_{unique}", json=clash)
        assert resp.status_code == 409 and "served by playbook 'recall'" in resp.text
        odd = {**clash, "category": "weather"}
        resp = await admin.put(f"/v1/playbooks/recall_{unique}", json=odd)
        assert resp.status_code == 422 and "weather" in resp.text
        resp = await admin.put("/v1/playbooks/legal", json=_document("recall"))
        assert resp.status_code == 422 and "differs from the path name" in resp.text
        broken = {**_document("legal"), "holding_statements": {"en": "only {brand}"}}
        assert (await admin.put("/v1/playbooks/legal", json=broken)).status_code == 422

        # Deleting: the category falls back to generic; generic itself stays.
        assert (await admin.delete("/v1/playbooks/generic")).status_code == 409
        assert (await responder.delete("/v1/playbooks/legal")).status_code == 403
        assert (await admin.delete("/v1/playbooks/legal")).status_code == 204
        assert (await responder.get("/v1/playbooks/legal")).status_code == 404
        assert (await admin.delete("/v1/playbooks/legal")).status_code == 404
        created = await admin.put("/v1/playbooks/legal", json=_document("legal"))
        assert created.status_code == 201, created.text

        audit = (await admin.get("/v1/audit-log", params={"target": "playbook:recall"})).json()
        assert audit[0]["action"] == "playbook.put"
        assert audit[0]["details"]["after"]["steps"][0]["title"].endswith("recall desk")
        assert audit[0]["details"]["before"]["steps"][0]["title"] != recall["steps"][0]["title"]
        actions = {
            e["action"]
            for e in (await admin.get("/v1/audit-log", params={"target": "playbook:legal"})).json()
        }
        assert actions == {"playbook.put", "playbook.delete"}


def test_cli_import_export_round_trip(
    settings_factory: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    common: CommonSettings = settings_factory(CommonSettings)
    edited = tmp_path / "in"
    edited.mkdir()
    safety = _document("safety")
    safety["title"] = "Safety incident (edited)"
    (edited / "safety.yaml").write_text(yaml.safe_dump(safety), encoding="utf-8")
    try:
        assert playbooks_cli(common, "import", edited) == 0
        assert '"replaced": ["safety"]' in capsys.readouterr().out
        assert playbooks_cli(common, "export", tmp_path / "out") == 0
        exported = load_playbooks(tmp_path / "out")
        assert set(exported) == set(default_playbooks())
        assert exported["safety"].title == "Safety incident (edited)"
        assert exported["legal"] == default_playbooks()["legal"]
        # Importing the packaged playbooks again restores them.
        assert playbooks_cli(common, "import", None) == 0
        playbooks_cli(common, "export", tmp_path / "again")
        assert load_playbooks(tmp_path / "again") == default_playbooks()
    finally:

        async def clear() -> None:
            engine = create_engine(common)
            try:
                await clear_playbooks(engine)
            finally:
                await engine.dispose()

        asyncio.run(clear())
