"""The settings tree: one `Settings` root, one section per service, built once at start-up.

The entry points (`services/cli.py`, `services/runner.py`) call `load_settings()` once and
hand each service the sections it needs; nothing below them reads the environment.
Every section derives from `SettingsBase`; a field two sections share is declared once, in
a common base (`CommonSettings`), so one environment variable has one meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, get_type_hints

from shared.settings.alerting import AlertingSettings
from shared.settings.api import ApiSettings
from shared.settings.base import SettingsBase
from shared.settings.common import CommonSettings
from shared.settings.infra import InfraSettings
from shared.settings.ingest import IngestSettings
from shared.settings.notify import NotifySettings
from shared.settings.sentiment import SentimentSettings

SectionT = TypeVar("SectionT", bound=SettingsBase)


@dataclass(frozen=True)
class Settings:
    """Every setting of crisiswatch, one section per service (`load_settings()` builds it)."""

    common: CommonSettings
    infra: InfraSettings
    ingest: IngestSettings
    sentiment: SentimentSettings
    alerting: AlertingSettings
    notify: NotifySettings
    api: ApiSettings


# Section name -> class, in the order of the dataclass (and of `.env.example`).
SECTIONS: dict[str, type[SettingsBase]] = get_type_hints(Settings)


def load_settings(*, env_file: str | Path | None = ".env") -> Settings:
    """Read every section from the environment and `env_file` (None: no file).

    Raises `ConfigError` when a retired variable is set, pydantic's `ValidationError` when
    a value is invalid or two settings of a section contradict each other.
    """

    def read(cls: type[SectionT]) -> SectionT:
        return cls(_env_file=env_file)  # type: ignore[call-arg]  # pydantic-settings init option

    return Settings(
        common=read(CommonSettings),
        infra=read(InfraSettings),
        ingest=read(IngestSettings),
        sentiment=read(SentimentSettings),
        alerting=read(AlertingSettings),
        notify=read(NotifySettings),
        api=read(ApiSettings),
    )
