"""Settings: environment prefix, derived values, contradictions refused, reference up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings.common import CommonSettings
from shared.settings.infra import InfraSettings
from shared.settings.reference import render_env_example

ROOT = Path(__file__).resolve().parents[3]


def test_env_prefix_and_derived_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISWATCH_KAFKA_PORT", "19092")
    monkeypatch.setenv("CRISISWATCH_PG_PASSWORD", "s3cr:t/")
    settings = CommonSettings()
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    url = settings.database_url()
    assert url.startswith("postgresql+asyncpg://crisiswatch:s3cr%3At%2F@")
    assert "s3cr:t/" not in repr(settings)


def test_explicit_bootstrap_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISWATCH_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    assert CommonSettings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_duplicate_topics_are_refused() -> None:
    with pytest.raises(ValidationError, match="distinct"):
        CommonSettings(topic_raw="same", topic_scored="same")


def test_kafka_ports_must_differ() -> None:
    with pytest.raises(ValidationError, match="differ"):
        InfraSettings(kafka_port=9092, kafka_controller_port=9092)


def test_env_example_lists_every_setting() -> None:
    rendered = render_env_example()
    committed = (ROOT / ".env.example").read_text()
    assert committed == rendered, "run `make env-example` to refresh .env.example"


@pytest.mark.parametrize(
    ("host", "mode", "expected"),
    [
        ("127.0.0.1", "auto", "disable"),
        ("localhost", "auto", "disable"),
        ("::1", "auto", "disable"),
        ("/var/run/postgresql", "auto", "disable"),
        ("db.internal", "auto", "prefer"),
        ("10.0.0.5", "auto", "prefer"),
        ("127.0.0.1", "require", "require"),
    ],
)
def test_postgres_tls_mode(host: str, mode: str, expected: str) -> None:
    settings = CommonSettings(pg_host=host, pg_sslmode=mode)  # type: ignore[arg-type]
    assert settings.effective_pg_sslmode() == expected
    assert settings.database_url().endswith(f"?ssl={expected}")
