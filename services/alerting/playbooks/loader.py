"""Load and validate the YAML playbooks; map an incident category to its playbook.

Each playbook serves one incident category: a category of the topic contract
(`shared/contracts/topics.yaml`) or `generic`, the fallback of every other incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.alerting.playbooks.models import Playbook
from shared.contracts.topics import GENERIC_CATEGORY, topic_contract
from shared.errors import ConfigError

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
FALLBACK = GENERIC_CATEGORY


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
    """Load every `*.yaml` playbook in `directory`: one per category, categories known."""
    playbooks = {p.stem: load_playbook(p) for p in sorted(directory.glob("*.yaml"))}
    check_playbook_set(playbooks, where=f"playbooks in {directory}")
    return playbooks


def check_playbook_set(playbooks: Mapping[str, Playbook], *, where: str) -> None:
    """Refuse (`ConfigError`) a set with an unknown or shared category, or no generic one."""
    known = {*topic_contract().categories, FALLBACK}
    owner: dict[str, str] = {}
    for playbook in playbooks.values():
        if playbook.category not in known:
            raise ConfigError(
                f"playbook {playbook.name}: category {playbook.category!r} is not a category "
                f"of the topic contract (known: {', '.join(sorted(known))})"
            )
        if owner.setdefault(playbook.category, playbook.name) != playbook.name:
            raise ConfigError(
                f"category {playbook.category!r} is claimed by both "
                f"{owner[playbook.category]!r} and {playbook.name!r}"
            )
    if FALLBACK not in owner:
        raise ConfigError(f"{where}: a {FALLBACK!r} playbook is required")


@lru_cache(maxsize=1)
def default_playbooks() -> dict[str, Playbook]:
    """The packaged playbooks, loaded once per process."""
    return load_playbooks(DEFINITIONS_DIR)


def playbook_for(category: str, playbooks: Mapping[str, Playbook] | None = None) -> Playbook:
    """Return the playbook serving `category`, or the generic one."""
    books = playbooks if playbooks is not None else default_playbooks()
    served = {book.category: book for book in books.values()}
    return served.get(category.strip().lower()) or served[FALLBACK]
