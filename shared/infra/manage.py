"""`crisiswatch infra up|down|status`: both systems together, idempotently."""

from __future__ import annotations

from collections.abc import Callable

from shared.infra import kafka_broker, postgres
from shared.settings.infra import InfraSettings


def up(settings: InfraSettings, *, step: Callable[[str], None] | None = None) -> list[str]:
    """Start PostgreSQL and Kafka (no-op for what runs already); return what was done.

    `step(text)` is told what is under way (a progress display)."""
    announce = step or (lambda _: None)
    done = []
    announce("starting PostgreSQL")
    done.append("postgres started" if postgres.start(settings) else "postgres already running")
    announce("starting Kafka (the first start builds the broker: minutes)")
    done.append("kafka started" if kafka_broker.start(settings) else "kafka already running")
    return done


def down(settings: InfraSettings, *, include_postgres: bool = True) -> list[str]:
    """Stop Kafka and (unless told otherwise) the PostgreSQL cluster."""
    done = ["kafka stopped" if kafka_broker.stop(settings) else "kafka was not running"]
    if include_postgres:
        done.append("postgres stopped" if postgres.stop(settings) else "postgres was not running")
    return done


def status(settings: InfraSettings) -> dict[str, dict[str, object]]:
    """Readiness of both systems, as a JSON-able mapping."""
    broker = kafka_broker.status(settings)
    database = postgres.status(settings)
    return {
        "kafka": {
            "bootstrap": settings.bootstrap_servers,
            "pid": broker.pid,
            "ready": broker.ready,
            "topics": broker.topics,
            "detail": broker.detail,
        },
        "postgres": {
            "port": settings.pg_port,
            "cluster": f"{settings.pg_version}/{settings.pg_cluster}",
            "ready": database.ready,
            "detail": database.detail,
        },
    }
