"""Settings of the local infrastructure (`crisiswatch infra ...`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from shared.settings.common import CommonSettings


class InfraSettings(CommonSettings):
    """Versions, ports, partitions and directories of the local broker and database."""

    kafka_version: str = Field(default="4.1.2", description="Apache Kafka version to assemble")
    kafka_controller_port: int = Field(
        default=9093, ge=1, le=65535, description="KRaft controller port"
    )
    kafka_heap: str = Field(default="512m", description="JVM -Xmx of the broker")
    java_home: Path | None = Field(
        default=None, description="JDK to run Kafka with; default: Java 17 if installed"
    )
    partitions_raw: int = Field(default=6, ge=1, le=1000, description="partitions of mentions.raw")
    partitions_scored: int = Field(
        default=6, ge=1, le=1000, description="partitions of mentions.scored"
    )
    partitions_dlq: int = Field(default=1, ge=1, le=1000, description="partitions of the DLQ")
    pg_version: str = Field(default="15", description="Debian PostgreSQL major version")
    pg_cluster: str = Field(default="main", description="Debian cluster name (pg_lsclusters)")
    pg_superuser: str = Field(default="postgres", description="OS user that owns the cluster")

    @model_validator(mode="after")
    def _ports_differ(self) -> InfraSettings:
        if self.kafka_port == self.kafka_controller_port:
            raise ValueError("CRISISWATCH_KAFKA_PORT and CRISISWATCH_KAFKA_CONTROLLER_PORT differ")
        return self

    @property
    def kafka_libs_dir(self) -> Path:
        """Where the broker's jars are cached (outside any checkout)."""
        return self.cache_dir / f"kafka-{self.kafka_version}" / "libs"

    @property
    def kafka_dir(self) -> Path:
        """State of the local broker: config, data, logs, pid."""
        return self.state_dir / "kafka"

    def topic_partitions(self) -> dict[str, int]:
        """The topics `infra up` creates, with their partition counts."""
        return {
            self.topic_raw: self.partitions_raw,
            self.topic_scored: self.partitions_scored,
            self.topic_dlq: self.partitions_dlq,
        }
