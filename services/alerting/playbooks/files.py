"""`crisiswatch playbooks import|export`: YAML files in and out of the stored playbooks.

Import validates every file first (nothing is stored when one is invalid), then stores them
in one transaction through the same path as `PUT /v1/playbooks/{name}` (checked against the
set, audited, actor `cli`); without a directory it imports the packaged playbooks. Export
writes each playbook in force to `<name>.yaml`. The alerting worker uses an import from its
next incident on, like any change through the API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml

from services.alerting.playbooks.loader import DEFINITIONS_DIR, load_playbook
from services.alerting.playbooks.models import Playbook
from services.alerting.playbooks.store import active_playbooks, as_document, import_playbooks
from shared.db.engine import create_engine, transaction
from shared.errors import BadInput
from shared.settings.common import CommonSettings


async def store_files(settings: CommonSettings, playbooks: list[Playbook]) -> dict[str, list[str]]:
    """Store `playbooks` in one transaction; return the names created and replaced."""
    engine = create_engine(settings)
    try:
        async with transaction(engine) as session:
            return await import_playbooks(session, playbooks, actor="cli")
    finally:
        await engine.dispose()


async def playbooks_in_force(settings: CommonSettings) -> list[Playbook]:
    """The playbooks in force, by name."""
    engine = create_engine(settings)
    try:
        async with transaction(engine) as session:
            books = await active_playbooks(session)
    finally:
        await engine.dispose()
    return [books[name] for name in sorted(books)]


def write_files(playbooks: list[Playbook], directory: Path) -> list[str]:
    """Write each playbook to `directory/<name>.yaml`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for playbook in playbooks:
        path = directory / f"{playbook.name}.yaml"
        path.write_text(
            yaml.safe_dump(as_document(playbook), allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        written.append(str(path))
    return written


def playbooks_cli(settings: CommonSettings, action: str, folder: str | Path | None) -> int:
    """Run `crisiswatch playbooks import|export [DIR]`; print JSON, return the exit code."""
    directory = Path(folder) if folder else None
    if action == "import":
        files = sorted((directory or DEFINITIONS_DIR).glob("*.yaml"))
        if not files:
            raise BadInput(f"playbooks import: no *.yaml file in {directory or DEFINITIONS_DIR}")
        playbooks = [load_playbook(path) for path in files]  # ConfigError names file and field
        result: object = asyncio.run(store_files(settings, playbooks))
    else:
        if directory is None:
            raise BadInput("playbooks export needs a directory")
        result = {"written": write_files(asyncio.run(playbooks_in_force(settings)), directory)}
    print(json.dumps(result))
    return 0
