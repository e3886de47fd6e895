"""`crisiswatch infra`: idempotent start, readiness, explicit topics, clear errors."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared.errors import InfraError
from shared.infra import kafka_broker, manage
from shared.kafka import delete_topics, ensure_topics, list_topics
from shared.settings.infra import InfraSettings
from tests.fault_helpers import poll_until
from tests.kafka_helpers import SESSION_TOPIC_PREFIX


def test_second_up_is_a_no_op(infra: InfraSettings) -> None:
    assert manage.up(infra) == ["postgres already running", "kafka already running"]


def test_status_reports_ready_with_explicit_partitions(infra: InfraSettings) -> None:
    status = manage.status(infra)
    assert status["kafka"]["ready"] is True
    assert status["postgres"]["ready"] is True
    topics = status["kafka"]["topics"]
    assert isinstance(topics, dict)
    assert topics[infra.topic_raw] == infra.partitions_raw
    assert topics[infra.topic_scored] == infra.partitions_scored
    assert topics[infra.topic_dlq] == infra.partitions_dlq


def test_cli_status_exits_zero_when_ready(infra: InfraSettings) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "infra", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"ready": true' in proc.stdout


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat (Debian package) not installed")
def test_an_independent_client_lists_the_broker(infra: InfraSettings) -> None:
    proc = subprocess.run(
        ["kcat", "-b", infra.bootstrap_servers, "-L", "-t", infra.topic_raw],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f'topic "{infra.topic_raw}" with {infra.partitions_raw} partitions' in proc.stdout


def test_taken_port_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = InfraSettings(
            kafka_port=port,
            kafka_controller_port=port + 1 if port < 65535 else port - 1,
            state_dir=tmp_path / "state",
        )
        with pytest.raises(InfraError, match=f"port {port} .* taken"):
            kafka_broker.start(settings)


def test_stop_without_a_broker_reports_nothing_to_do(tmp_path: Path) -> None:
    settings = InfraSettings(state_dir=tmp_path / "state")
    assert kafka_broker.stop(settings) is False


async def test_delete_topics_removes_only_the_prefixed_ones(infra: InfraSettings) -> None:
    run = uuid.uuid4().hex[:8]
    mine = [f"{SESSION_TOPIC_PREFIX}del.{run}.a", f"{SESSION_TOPIC_PREFIX}del.{run}.b"]
    other = f"{SESSION_TOPIC_PREFIX}keep.{run}"
    await ensure_topics(infra.bootstrap_servers, dict.fromkeys([*mine, other], 1))

    async def all_listed() -> bool:
        return {*mine, other} <= set(await list_topics(infra.bootstrap_servers))

    await poll_until(all_listed, timeout_s=30, what="new topics listed")
    prefix = f"{SESSION_TOPIC_PREFIX}del.{run}."
    assert await delete_topics(infra.bootstrap_servers, prefix=prefix) == 2

    async def only_other_left() -> bool:
        names = set(await list_topics(infra.bootstrap_servers))
        return other in names and not names & set(mine)

    await poll_until(only_other_left, timeout_s=30, what="prefixed topics deleted")
    with pytest.raises(ValueError, match="prefix"):
        await delete_topics(infra.bootstrap_servers, prefix="")


def test_infra_up_reports_each_step() -> None:
    told: list[str] = []
    # Both systems already run in the test environment: up is a no-op that still reports.
    done = manage.up(InfraSettings(), step=told.append)
    assert told[0] == "starting PostgreSQL" and told[1].startswith("starting Kafka")
    assert len(done) == 2
