"""Load and validate the YAML playbooks; map an incident category to its playbook."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.alerting.playbooks.models import Playbook
from shared.errors import ConfigError

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
FALLBACK = "generic"


def _explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


def load_playbook(path: Path) -> Playbook:
    """Parse and validate one playbook file; raise `ConfigError` naming the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"playbook {path.name}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"playbook {path.name}: top level must be a mapping")
    try:
        playbook = Playbook.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"playbook {path.name}: {_explain(exc)}") from exc
    if playbook.name != path.stem:
        raise ConfigError(f"playbook {path.name}: name {playbook.name!r} must match the file name")
    return playbook


def load_playbooks(directory: Path = DEFINITIONS_DIR) -> dict[str, Playbook]:
    """Load every `*.yaml` playbook in `directory`; categories must not overlap."""
    playbooks = {p.stem: load_playbook(p) for p in sorted(directory.glob("*.yaml"))}
    if FALLBACK not in playbooks:
        raise ConfigError(f"playbooks in {directory}: the {FALLBACK!r} playbook is required")
    owner: dict[str, str] = {}
    for playbook in playbooks.values():
        for category in {playbook.name, *playbook.categories}:
            if owner.setdefault(category, playbook.name) != playbook.name:
                raise ConfigError(
                    f"category {category!r} is claimed by both {owner[category]!r} "
                    f"and {playbook.name!r}"
                )
    return playbooks


@lru_cache(maxsize=1)
def default_playbooks() -> dict[str, Playbook]:
    """The packaged playbooks, loaded once per process."""
    return load_playbooks(DEFINITIONS_DIR)


def playbook_for(category: str, playbooks: dict[str, Playbook] | None = None) -> Playbook:
    """Return the playbook serving `category`, or the generic one."""
    books = playbooks if playbooks is not None else default_playbooks()
    key = category.strip().lower()
    for playbook in books.values():
        if key == playbook.name or key in playbook.categories:
            return playbook
    return books[FALLBACK]
