"""The one root of every settings class: `CRISISWATCH_` prefix, `.env`, retired names refused.

Every section of the settings tree (`shared/settings/tree.py`) derives from `SettingsBase`,
so all of them read the environment the same way. A field shared by two sections is
declared once, in a common base, and inherited: one environment variable, one meaning
(`tests/unit/shared/test_settings_tree.py` walks the tree and enforces it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.errors import ConfigError

ENV_PREFIX = "CRISISWATCH_"

# Names that once meant two different things. Reading one of them would pick one meaning
# silently, so a process that finds one (environment or .env, even empty) refuses to start.
RETIRED: dict[str, str] = {
    "CRISISWATCH_WEBHOOK_SECRET": (
        "it meant two keys; set CRISISWATCH_PUSH_HMAC_SECRET (the HMAC key of signed pushes "
        "to ingest) and/or CRISISWATCH_WEBHOOK_SIGNING_SECRET (the key that signs outgoing "
        "webhook notifications)"
    ),
    "CRISISWATCH_API_REQUIRE_AUTH": (
        "push authentication is one setting for the API and ingest: "
        "CRISISWATCH_INGEST_REQUIRE_AUTH (default true)"
    ),
    "CRISISWATCH_HTTP_TIMEOUT_S": (
        "it meant two timeouts; set CRISISWATCH_CONNECTOR_HTTP_TIMEOUT_S (requests of the "
        "ingest connectors) and/or CRISISWATCH_NOTIFY_HTTP_TIMEOUT_S (requests of the "
        "notification channels)"
    ),
}


def refuse_retired(names: Iterable[str], *, where: str) -> None:
    """Raise `ConfigError` naming the replacements when a retired variable is among `names`."""
    found = sorted({name.upper() for name in names} & RETIRED.keys())
    if found:
        problems = "; ".join(f"{name} is no longer read: {RETIRED[name]}" for name in found)
        raise ConfigError(f"{problems} (found in {where}; remove it)")


def _env_files(env_file: Any) -> list[Path]:
    if env_file is None:
        return []
    files = [env_file] if isinstance(env_file, (str, os.PathLike)) else list(env_file)
    return [Path(f).expanduser() for f in files]


class RetiredNamesSource(PydanticBaseSettingsSource):
    """A source that contributes no value: it refuses retired names in the environment and
    in the `.env` files the settings read (those passed as `_env_file` included)."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        env_file = dotenv.env_file if isinstance(dotenv, DotEnvSettingsSource) else None
        self._env_files = _env_files(env_file)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """No field takes its value from here."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        refuse_retired(os.environ, where="the environment")
        for path in self._env_files:
            if path.is_file():
                values: Mapping[str, str | None] = dotenv_values(path)
                refuse_retired(values, where=str(path))
        return {}


class SettingsBase(BaseSettings):
    """How every crisiswatch setting is read: `CRISISWATCH_<FIELD>` from the environment or
    `.env`; an empty value means the default; the objects are immutable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_ignore_empty=True,  # `NAME=` as in .env.example means the default
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The default sources, after the check that no retired name is set."""
        return (
            RetiredNamesSource(settings_cls, dotenv_settings),
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )
