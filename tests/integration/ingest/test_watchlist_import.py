"""`crisiswatch watchlists import|export`: YAML files in and out of the stored watchlists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services import cli
from services.ingest.core.watchlist import parse_watchlist
from shared.db.config_models import AuditLogRow, WatchlistRow
from shared.db.engine import transaction

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "watchlists" / "acme.yaml"


async def test_import_validates_stores_audits_and_exports(
    db_engine: AsyncEngine,
    test_database: str,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CRISISWATCH_PG_DATABASE", test_database)
    brand = f"acme-{unique}"
    source = tmp_path / "in"
    source.mkdir()
    text = EXAMPLE.read_text(encoding="utf-8").replace("brand: acme ", f"brand: {brand} ")
    (source / f"{brand}.yaml").write_text(text, encoding="utf-8")
    (source / "broken.yaml").write_text(f"brand: broken-{unique}\nmarkets: [germany]\n")
    try:
        # One invalid file: nothing is stored, the error names the file and the field.
        assert await _run(["watchlists", "import", str(source)]) == 2
        assert "broken.yaml: markets.0" in capsys.readouterr().err
        assert await _stored(db_engine, brand) is None

        (source / "broken.yaml").unlink()
        assert await _run(["watchlists", "import", str(source)]) == 0
        assert json.loads(capsys.readouterr().out) == {"created": [brand], "replaced": []}
        stored = await _stored(db_engine, brand)
        assert stored is not None and stored["competitors"] == ["globex", "initech"]
        async with db_engine.connect() as conn:
            actors = (
                await conn.execute(
                    select(AuditLogRow.actor, AuditLogRow.action).where(
                        AuditLogRow.target == f"watchlist:{brand}"
                    )
                )
            ).all()
        assert [tuple(a) for a in actors] == [("cli", "watchlist.create")]

        out = tmp_path / "out"
        assert await _run(["watchlists", "export", str(out)]) == 0
        capsys.readouterr()
        exported = out / f"{brand}.yaml"
        original = parse_watchlist(text, origin="in")
        assert parse_watchlist(exported.read_text(encoding="utf-8"), origin="out") == original
    finally:
        async with transaction(db_engine) as session:
            await session.execute(delete(WatchlistRow).where(WatchlistRow.brand == brand))


async def _run(argv: list[str]) -> int:
    # The CLI runs its own event loop: keep it off the test's loop.
    return await asyncio.to_thread(cli.main, argv)


async def _stored(engine: AsyncEngine, brand: str) -> dict | None:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(WatchlistRow.definition).where(WatchlistRow.brand == brand))
        ).scalar_one_or_none()
