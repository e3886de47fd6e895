"""Settings common to the services that use Kafka and PostgreSQL: where they are, topic names,
and local directories.

Each such service subclasses `CommonSettings` with its own fields (`IngestSettings`, ...).
The sections are built once, as the settings tree (`shared/settings/tree.py`), by the
entry points and passed down, never created at import.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings.base import SettingsBase

DEFAULT_PG_PASSWORD = "crisiswatch"  # noqa: S105 - the local cluster's documented default


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "crisiswatch"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "crisiswatch"


class CommonSettings(SettingsBase):
    """Where Kafka and PostgreSQL are, topic names, and local directories."""

    # Kafka
    kafka_host: str = Field(default="127.0.0.1", description="host of the local broker")
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="client port")
    kafka_bootstrap: str | None = Field(
        default=None, description="bootstrap servers; defaults to kafka_host:kafka_port"
    )
    topic_raw: str = Field(default="mentions.raw", description="topic of normalised mentions")
    topic_scored: str = Field(
        default="mentions.scored", description="topic of enriched (scored) mentions"
    )
    topic_dlq: str = Field(default="mentions.dlq", description="dead-letter topic")
    # PostgreSQL
    pg_host: str = Field(default="127.0.0.1", description="PostgreSQL host")
    pg_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port")
    pg_user: str = Field(default="crisiswatch", description="PostgreSQL role")
    pg_password: SecretStr = Field(
        default=SecretStr(DEFAULT_PG_PASSWORD), description="password of the PostgreSQL role"
    )
    pg_database: str = Field(default="crisiswatch", description="PostgreSQL database")
    pg_pool_size: int = Field(default=5, ge=1, le=100, description="connections per process")
    pg_sslmode: Literal["auto", "disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="auto",
        description="TLS to PostgreSQL; auto = disable for a loopback host, else prefer",
    )
    # Local directories
    state_dir: Path = Field(
        default_factory=_default_state_dir, description="local broker data, logs and pids"
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="downloaded jars and built models"
    )
    deployment: Literal["development", "production"] = Field(
        default="development",
        description="production refuses default passwords and secrets and open pushes; "
        "development (laptop, demo) warns",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text (terminal) or json (one object per line, for a log pipeline)",
    )

    @field_validator("state_dir", "cache_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        # .env.example writes the defaults as ~/...; nothing else would expand the tilde.
        return value.expanduser()

    @model_validator(mode="after")
    def _check_topics_distinct(self) -> CommonSettings:
        topics = [self.topic_raw, self.topic_scored, self.topic_dlq]
        if len(set(topics)) != len(topics):
            raise ValueError(f"topic names must be distinct, got {topics}")
        return self

    def differing_common_fields(self, other: CommonSettings) -> list[str]:
        """The common fields (Kafka, PostgreSQL, topics, directories) `other` sets differently."""
        return [
            name
            for name in CommonSettings.model_fields
            if getattr(self, name) != getattr(other, name)
        ]

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers string clients connect to."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    def database_url(self, database: str | None = None) -> str:
        """SQLAlchemy URL for asyncpg; contains the password, so never log it."""
        password = quote(self.pg_password.get_secret_value(), safe="")
        user = quote(self.pg_user, safe="")
        name = database or self.pg_database
        url = f"postgresql+asyncpg://{user}:{password}@{self.pg_host}:{self.pg_port}/{name}"
        return f"{url}?ssl={self.effective_pg_sslmode()}"

    def effective_pg_sslmode(self) -> str:
        """The TLS mode used: `auto` skips TLS on loopback, where it only costs CPU."""
        if self.pg_sslmode != "auto":
            return self.pg_sslmode
        return "disable" if _is_loopback(self.pg_host) else "prefer"


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("/"):  # a Unix socket directory
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
