"""Production refuses default secrets and passwords and open pushes; development warns."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.errors import ConfigError
from shared.settings.ingest import DEV_PSEUDONYM_SECRET
from shared.settings.safety import check_deployment, insecure_settings
from shared.settings.tree import load_settings

STRONG = {
    "CRISISWATCH_PG_PASSWORD": "s3cure-Postgres-pass",
    "CRISISWATCH_PSEUDONYM_SECRET": "k" * 48,
    "CRISISWATCH_ROOM_SECRET": "r" * 48,
    "CRISISWATCH_INGEST_REQUIRE_AUTH": "true",
}


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    for name in (
        "CRISISWATCH_PG_PASSWORD",
        "CRISISWATCH_PSEUDONYM_SECRET",
        "CRISISWATCH_ROOM_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(env_file=None)


def test_production_refuses_defaults_with_one_line_naming_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(
        monkeypatch,
        CRISISWATCH_DEPLOYMENT="production",
        CRISISWATCH_INGEST_REQUIRE_AUTH="false",
    )
    with pytest.raises(ConfigError) as refused:
        check_deployment(settings)
    message = str(refused.value)
    for name in ("PG_PASSWORD", "PSEUDONYM_SECRET", "ROOM_SECRET", "INGEST_REQUIRE_AUTH"):
        assert f"CRISISWATCH_{name}" in message
    assert "\n" not in message
    assert DEV_PSEUDONYM_SECRET not in message  # names settings, never their values


def test_placeholders_of_the_shipped_examples_count_as_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(
        monkeypatch,
        **{
            **STRONG,
            "CRISISWATCH_PSEUDONYM_SECRET": "REPLACE_WITH_64_RANDOM_CHARACTERS",
            "CRISISWATCH_DEPLOYMENT": "production",
        },
    )
    assert [p.split(" ")[0] for p in insecure_settings(settings)] == [
        "CRISISWATCH_PSEUDONYM_SECRET"
    ]


def test_production_with_real_values_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, **STRONG, CRISISWATCH_DEPLOYMENT="production")
    check_deployment(settings)
    assert insecure_settings(settings) == []


def test_development_warns_and_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(monkeypatch, CRISISWATCH_DEPLOYMENT="development")
    with caplog.at_level(logging.WARNING, logger="shared.settings.safety"):
        check_deployment(settings)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "CRISISWATCH_PG_PASSWORD" in warned and "CRISISWATCH_PSEUDONYM_SECRET" in warned
