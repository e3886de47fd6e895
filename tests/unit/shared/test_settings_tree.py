"""The settings tree: one root, one meaning per environment variable, retired names refused,
defaults that agree with each other.

The rule for a name: every field of the tree is declared by exactly one class. A field two
sections share (the Kafka, PostgreSQL and directory settings) is declared once, in a common
base (`CommonSettings`), and inherited; a section never redeclares it, not even with the
same default, and sections never inherit one another. So `CRISISWATCH_X` is one field with
one type, default and description wherever it is read.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import Field
from pydantic_settings import BaseSettings

import shared.settings
from shared.errors import ConfigError
from shared.settings.base import ENV_PREFIX, RETIRED, SettingsBase
from shared.settings.common import CommonSettings
from shared.settings.notify import NotifySettings
from shared.settings.tree import SECTIONS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]


def declaring_class(cls: type[BaseSettings], field: str) -> type:
    """The class whose body declares `field` (the first in the MRO that annotates it)."""
    for klass in cls.__mro__:
        if field in vars(klass).get("__annotations__", {}):
            return klass
    raise AssertionError(f"{cls.__name__}.{field} is declared nowhere")


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from."""
    info = cls.model_fields[field]
    assert info.alias is None and info.validation_alias is None, f"{cls.__name__}.{field}"
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def declarations(classes: Iterable[type[BaseSettings]]) -> dict[str, set[str]]:
    """Environment variable -> the `Class.field` declarations that read it."""
    found: dict[str, set[str]] = defaultdict(set)
    for cls in classes:
        for field in cls.model_fields:
            found[env_name(cls, field)].add(f"{declaring_class(cls, field).__name__}.{field}")
    return found


def conflicts(classes: Iterable[type[BaseSettings]]) -> dict[str, set[str]]:
    """The environment variables declared by more than one field."""
    return {name: owners for name, owners in declarations(classes).items() if len(owners) > 1}


def tree_env_names() -> set[str]:
    return set(declarations(SECTIONS.values()))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No CRISISWATCH_ variable and no .env: a working directory of our own."""
    for name in [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


# --- One tree, one root -------------------------------------------------------------------


def _settings_classes_in_the_package() -> set[type[BaseSettings]]:
    found: set[type[BaseSettings]] = set()
    for module_info in pkgutil.iter_modules(shared.settings.__path__, "shared.settings."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found.add(value)
    return found


def test_every_settings_class_is_a_section_or_the_base_of_one() -> None:
    sections = set(SECTIONS.values())
    bases = {base for cls in sections for base in cls.__mro__}
    stray = {cls.__name__ for cls in _settings_classes_in_the_package() - sections - bases}
    assert not stray, f"settings classes outside the tree (add them to Settings): {stray}"


def test_the_sections_are_the_fields_of_the_root() -> None:
    assert list(SECTIONS) == list(Settings.__dataclass_fields__)
    assert list(SECTIONS) == ["common", "infra", "ingest", "sentiment", "alerting", "notify", "api"]


def test_every_section_derives_from_the_one_root() -> None:
    for name, cls in SECTIONS.items():
        assert issubclass(cls, SettingsBase), name
        assert cls.model_config.get("env_prefix") == ENV_PREFIX, name


def test_no_second_root_anywhere_in_the_code() -> None:
    """Only shared/settings/base.py subclasses pydantic-settings' BaseSettings directly."""
    pattern = re.compile(r"class \w+\((?:\w+\.)?BaseSettings\)")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("shared", "services", "tools")
        for path in (ROOT / package).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["shared/settings/base.py"]


def test_sections_compose_and_never_inherit_one_another() -> None:
    """Only the common section is shared by inheritance (ApiSettings is not an IngestSettings)."""
    for name, cls in SECTIONS.items():
        for other_name, other in SECTIONS.items():
            if other is cls or other is CommonSettings:
                continue
            assert not issubclass(cls, other), f"section {name} inherits section {other_name}"


# --- One environment variable, one meaning ---------------------------------------------------


def test_one_environment_variable_is_declared_by_one_field() -> None:
    found = conflicts(SECTIONS.values())
    assert not found, (
        "environment variables declared by two fields (declare a shared field once in a "
        f"common base and inherit it, or give each meaning its own name): {found}"
    )


def test_the_rule_catches_a_name_with_two_meanings() -> None:
    """The two timeouts this tree once had: same variable, two fields, two defaults."""

    class Connectors(CommonSettings):
        http_timeout_s: float = Field(default=30.0)

    class Notifier(SettingsBase):
        http_timeout_s: float = Field(default=10.0)

    assert conflicts([Connectors, Notifier]) == {
        "CRISISWATCH_HTTP_TIMEOUT_S": {"Connectors.http_timeout_s", "Notifier.http_timeout_s"}
    }


def test_the_rule_catches_a_redeclared_common_field() -> None:
    """Redeclaring a common field is a second meaning too, even with the same default."""

    class Section(CommonSettings):
        kafka_port: int = Field(default=9092)

    assert conflicts([CommonSettings, Section]) == {
        "CRISISWATCH_KAFKA_PORT": {"CommonSettings.kafka_port", "Section.kafka_port"}
    }


def test_inherited_fields_are_one_declaration() -> None:
    assert declarations(SECTIONS.values())["CRISISWATCH_PG_HOST"] == {"CommonSettings.pg_host"}


def test_env_example_lists_each_variable_once_with_one_meaning() -> None:
    names = re.findall(r"^(CRISISWATCH_\w+)=", (ROOT / ".env.example").read_text(), re.M)
    assert len(names) == len(set(names)), "a variable appears twice in .env.example"
    assert set(names) == tree_env_names()


# --- Retired names ---------------------------------------------------------------------------


REPLACEMENTS = {
    "CRISISWATCH_WEBHOOK_SECRET": {
        "CRISISWATCH_PUSH_HMAC_SECRET",
        "CRISISWATCH_WEBHOOK_SIGNING_SECRET",
    },
    "CRISISWATCH_HTTP_TIMEOUT_S": {
        "CRISISWATCH_CONNECTOR_HTTP_TIMEOUT_S",
        "CRISISWATCH_NOTIFY_HTTP_TIMEOUT_S",
    },
    "CRISISWATCH_API_REQUIRE_AUTH": {"CRISISWATCH_INGEST_REQUIRE_AUTH"},
}


def test_retired_names_are_read_by_no_field_and_name_fields_that_exist() -> None:
    assert set(RETIRED) == set(REPLACEMENTS)
    assert not set(RETIRED) & tree_env_names()
    for old, why in RETIRED.items():
        named = set(re.findall(r"CRISISWATCH_\w+", why))
        assert named == REPLACEMENTS[old]
        assert named <= tree_env_names()


@pytest.mark.parametrize("old", sorted(REPLACEMENTS))
def test_a_retired_name_in_the_environment_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, old: str
) -> None:
    monkeypatch.setenv(old, "20")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert old in message and "the environment" in message
    for new in REPLACEMENTS[old]:
        assert new in message


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_section_refuses_a_retired_name(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    """Also when a tool builds one section by itself instead of the whole tree."""
    monkeypatch.setenv("CRISISWATCH_WEBHOOK_SECRET", "s3cr3t-value")
    with pytest.raises(ConfigError, match="CRISISWATCH_WEBHOOK_SECRET is no longer read"):
        SECTIONS[section]()


def test_a_retired_name_in_lower_case_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic-settings reads names case-insensitively, so the refusal does too."""
    monkeypatch.setenv("crisiswatch_http_timeout_s", "60")
    with pytest.raises(ConfigError, match="CRISISWATCH_HTTP_TIMEOUT_S"):
        load_settings()


@pytest.mark.parametrize("line", ["CRISISWATCH_WEBHOOK_SECRET=abc", "CRISISWATCH_WEBHOOK_SECRET="])
def test_a_retired_name_in_the_env_file_is_refused_even_empty(clean_env: Path, line: str) -> None:
    env_file = clean_env / "old.env"
    env_file.write_text(f"CRISISWATCH_LOG_LEVEL=INFO\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=env_file)
    assert str(env_file) in str(refused.value)
    assert "CRISISWATCH_PUSH_HMAC_SECRET" in str(refused.value)


def test_the_default_env_file_is_checked_too(clean_env: Path) -> None:
    (clean_env / ".env").write_text("CRISISWATCH_HTTP_TIMEOUT_S=30.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="CRISISWATCH_NOTIFY_HTTP_TIMEOUT_S"):
        load_settings()
    with pytest.raises(ConfigError, match=r"found in \.env"):
        NotifySettings()


def test_the_new_names_are_read(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISWATCH_PUSH_HMAC_SECRET", "push-key")
    monkeypatch.setenv("CRISISWATCH_WEBHOOK_SIGNING_SECRET", "signing-key")
    monkeypatch.setenv("CRISISWATCH_CONNECTOR_HTTP_TIMEOUT_S", "60")
    monkeypatch.setenv("CRISISWATCH_NOTIFY_HTTP_TIMEOUT_S", "5")
    settings = load_settings()
    assert settings.ingest.push_hmac_secret is not None
    assert settings.ingest.push_hmac_secret.get_secret_value() == "push-key"
    assert settings.notify.webhook_signing_secret is not None
    assert settings.notify.webhook_signing_secret.get_secret_value() == "signing-key"
    assert settings.ingest.connector_http_timeout_s == 60.0
    assert settings.notify.notify_http_timeout_s == 5.0


def test_a_long_connector_timeout_no_longer_stops_alerting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connectors may wait 60 s; the notifier keeps its own 10 s, inside the outbox lease."""
    monkeypatch.setenv("CRISISWATCH_CONNECTOR_HTTP_TIMEOUT_S", "60")
    settings = load_settings()
    assert settings.notify.notify_http_timeout_s == 10.0
    assert settings.notify.outbox_lease_s >= 4 * settings.notify.notify_http_timeout_s


# --- Defaults that agree -----------------------------------------------------------------------


def defaults() -> Settings:
    return load_settings(env_file=None)


def test_the_defaults_load(clean_env: Path) -> None:
    """No two defaults contradict each other (every validator passes on them)."""
    settings = defaults()
    assert settings.api.differing_common_fields(settings.ingest) == []


def test_env_example_copied_to_env_means_the_defaults(clean_env: Path) -> None:
    """Every section reads `NAME=` as the default (the notifier once read empty secrets), and
    the directories written as `~/...` are the home directory's."""
    copied = load_settings(env_file=ROOT / ".env.example")
    expected = defaults()
    for section in SECTIONS:
        assert getattr(copied, section) == getattr(expected, section), section


def test_notification_links_point_at_the_api(clean_env: Path) -> None:
    settings = defaults()
    link = urlsplit(settings.notify.api_base_url)
    assert (link.hostname, link.port) == (settings.api.api_host, settings.api.api_port)


def listen_ports(settings: Settings) -> dict[str, int]:
    return {
        "api": settings.api.api_port,
        "ingest": settings.ingest.ingest_port,
        "sentiment metrics": settings.sentiment.sentiment_metrics_port,
        "alerting metrics": settings.alerting.alerting_metrics_port,
        "kafka": settings.infra.kafka_port,
        "kafka controller": settings.infra.kafka_controller_port,
        "postgres": settings.infra.pg_port,
    }


def test_the_default_ports_of_one_machine_differ(clean_env: Path) -> None:
    """`crisiswatch run` starts every service on one host: no two may want one port."""
    ports = listen_ports(defaults())
    assert len(set(ports.values())) == len(ports), ports


def test_local_prometheus_scrapes_the_default_ports(clean_env: Path) -> None:
    settings = defaults()
    expected = {
        "api": f"{settings.api.api_host}:{settings.api.api_port}",
        "ingest": f"{settings.ingest.ingest_host}:{settings.ingest.ingest_port}",
        "sentiment": (
            f"{settings.sentiment.sentiment_metrics_host}:"
            f"{settings.sentiment.sentiment_metrics_port}"
        ),
        "alerting": (
            f"{settings.alerting.alerting_metrics_host}:{settings.alerting.alerting_metrics_port}"
        ),
    }
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.local.yml").read_text())
    scraped = {
        group["labels"]["service"]: target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        if "service" in group.get("labels", {})
        for target in group["targets"]
    }
    assert scraped == expected
