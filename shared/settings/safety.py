"""Insecure settings a shared deployment must not run with: default or placeholder secrets
and passwords, and an open push route.

`CRISISWATCH_DEPLOYMENT=production` refuses to start with any of them (one clear line
naming every problem); `development` (the default: a laptop, the demo) starts with a
warning for each.
"""

from __future__ import annotations

import logging
import re

from shared.errors import ConfigError
from shared.settings.common import DEFAULT_PG_PASSWORD
from shared.settings.ingest import DEV_PSEUDONYM_SECRET
from shared.settings.links import DEV_ROOM_SECRET
from shared.settings.tree import Settings

log = logging.getLogger(__name__)

# Values the shipped examples ask to replace (k8s secret.yaml, compose comments).
_PLACEHOLDER = re.compile(r"replace|change[-_ ]?me", re.IGNORECASE)


def _weak(value: str, default: str) -> bool:
    return value == default or bool(_PLACEHOLDER.search(value))


def insecure_settings(settings: Settings) -> list[str]:
    """One line per insecure setting of `settings` (empty when none)."""
    problems = []
    if _weak(settings.common.pg_password.get_secret_value(), DEFAULT_PG_PASSWORD):
        problems.append("CRISISWATCH_PG_PASSWORD is the default or a placeholder")
    if _weak(settings.ingest.pseudonym_secret.get_secret_value(), DEV_PSEUDONYM_SECRET):
        problems.append(
            "CRISISWATCH_PSEUDONYM_SECRET is the development key or a placeholder "
            "(author ids would be reversible by anyone who has the source)"
        )
    if _weak(settings.api.room_secret.get_secret_value(), DEV_ROOM_SECRET):
        problems.append(
            "CRISISWATCH_ROOM_SECRET is the development key or a placeholder "
            "(anyone with the source could mint incident-room sign-in links)"
        )
    if not settings.ingest.ingest_require_auth:
        problems.append("CRISISWATCH_INGEST_REQUIRE_AUTH=false accepts anonymous pushes")
    return problems


def check_deployment(settings: Settings) -> None:
    """Refuse insecure settings in production (`ConfigError`); warn about them otherwise."""
    problems = insecure_settings(settings)
    if not problems:
        return
    if settings.common.deployment == "production":
        raise ConfigError(
            "production refuses insecure settings: "
            + "; ".join(problems)
            + " (set real values, or CRISISWATCH_DEPLOYMENT=development for a demo)"
        )
    for problem in problems:
        log.warning("%s: fine for development and demos, never for a shared deployment", problem)
