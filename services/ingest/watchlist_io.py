"""`crisiswatch watchlists import|export`: YAML files in and out of the stored watchlists.

Import validates every file first (nothing is stored when one is invalid), then stores
them in one transaction through the same path as `PUT /v1/watchlists` (audited, actor
`cli`); export writes each stored watchlist to `<brand>.yaml`. Ingest picks up an import
within `watchlist_poll_s`, like any change through the API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from services.ingest.core.watchlist import Watchlist, load_watchlists
from services.ingest.watchlist_routes import list_watchlists, put_watchlist
from shared.db.engine import create_engine, transaction
from shared.errors import BadInput
from shared.settings.common import CommonSettings


async def import_watchlists(
    settings: CommonSettings, watchlists: list[Watchlist]
) -> dict[str, list[str]]:
    """Store `watchlists` in one transaction; return the brands created and replaced."""
    done: dict[str, list[str]] = {"created": [], "replaced": []}
    engine = create_engine(settings)
    try:
        async with transaction(engine) as session:
            for watchlist in watchlists:
                _, created = await put_watchlist(
                    session, brand=watchlist.brand, watchlist=watchlist, actor="cli"
                )
                done["created" if created else "replaced"].append(watchlist.brand)
    finally:
        await engine.dispose()
    return done


async def stored_watchlists(settings: CommonSettings) -> list[Watchlist]:
    """Every stored watchlist."""
    engine = create_engine(settings)
    try:
        async with transaction(engine) as session:
            stored = await list_watchlists(session)
    finally:
        await engine.dispose()
    return [Watchlist.model_validate(item.definition) for item in stored]


def write_watchlists(watchlists: list[Watchlist], directory: Path) -> list[str]:
    """Write each watchlist to `directory/<brand>.yaml` (set fields only); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for watchlist in watchlists:
        definition: dict[str, Any] = watchlist.model_dump(mode="json", exclude_defaults=True)
        path = directory / f"{watchlist.brand}.yaml"
        path.write_text(
            yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        written.append(str(path))
    return written


def watchlists_cli(settings: CommonSettings, action: str, directory: Path | None) -> int:
    """Run `crisiswatch watchlists import|export DIR`; print JSON, return the exit code."""
    if directory is None:
        raise BadInput(f"watchlists {action} needs a directory (or CRISISWATCH_WATCHLIST_DIR)")
    if action == "import":
        watchlists = load_watchlists(directory)  # ConfigError names the file and the field
        result: object = asyncio.run(import_watchlists(settings, watchlists))
    else:
        result = {"written": write_watchlists(asyncio.run(stored_watchlists(settings)), directory)}
    print(json.dumps(result))
    return 0
