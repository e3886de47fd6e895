"""Operational alerts reach the operators: every rule links its runbook, the shipped
Alertmanager configuration is valid and wired into Prometheus and compose, and a rule fired
by a real Prometheus is delivered by a real Alertmanager to a local Slack-like receiver."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.kafka_helpers import free_port
from tests.notify_fakes import FakeHttp, serve_fake
from tests.ops import alertmanager_helpers as amh
from tests.ops import prometheus_helpers as ph

ROOT = ph.ROOT
RUNBOOKS = ROOT / "docs" / "runbooks.md"
AM_BINARIES = amh.binaries()
PROM_BINARIES = ph.binaries()
needs_binaries = pytest.mark.skipif(
    AM_BINARIES is None or PROM_BINARIES is None,
    reason="prometheus/alertmanager missing and not installable (run "
    "deploy/prometheus/ensure-prometheus.sh as root)",
)


def _alerts() -> list[dict]:
    rules = yaml.safe_load((ph.PROMETHEUS_DIR / "rules.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_links_its_runbook_section() -> None:
    anchors = _anchors(RUNBOOKS.read_text())
    alerts = _alerts()
    assert len(alerts) >= 10
    for rule in alerts:
        link = rule["annotations"]["runbook_url"]
        path, _, anchor = link.partition("#")
        assert path == "docs/runbooks.md", rule["alert"]
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/runbooks.md has no section for {rule['alert']}"
        assert rule["labels"]["severity"] in {"critical", "warning"}


@needs_binaries
def test_amtool_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    assert AM_BINARIES is not None
    config = amh.write_config(tmp_path, slack_url="http://127.0.0.1:9/unused")
    done = subprocess.run(
        [AM_BINARIES[1], "check-config", str(config)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_and_compose_send_alerts_to_alertmanager() -> None:
    for name, target in (
        ("prometheus.yml", "alertmanager:9093"),
        ("prometheus.local.yml", "127.0.0.1:9093"),
    ):
        config = yaml.safe_load((ph.PROMETHEUS_DIR / name).read_text())
        targets = [
            t
            for manager in config["alerting"]["alertmanagers"]
            for static in manager["static_configs"]
            for t in static["targets"]
        ]
        assert targets == [target], name
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    manager = compose["services"]["alertmanager"]
    mounted = {v.split(":")[0] for v in manager["volumes"]}
    assert "./alertmanager/alertmanager.yml" in mounted
    assert [c["target"] for c in manager["configs"]] == [amh.SECRET_FILE]
    assert "ops-slack-webhook-url" in compose["configs"]
    assert compose["services"]["prometheus"]["depends_on"]["alertmanager"]


def test_compose_services_read_every_setting_from_one_env_file() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    for name in ("api", "ingest", "sentiment", "alerting", "migrate"):
        files = compose["services"][name]["env_file"]
        assert files == [{"path": "../.env", "required": False}], name
        environment = compose["services"][name].get("environment") or {}
        # Secrets come from the env file only: no compose default can shadow them.
        assert "CRISISWATCH_PSEUDONYM_SECRET" not in environment


@pytest.fixture
def receiver() -> Iterator[FakeHttp]:
    yield from serve_fake("slack_webhook")


@needs_binaries
def test_a_fired_rule_reaches_the_operators_with_its_runbook(
    tmp_path: Path, receiver: FakeHttp
) -> None:
    assert AM_BINARIES is not None and PROM_BINARIES is not None
    am_port, prom_port, dead_port = free_port(), free_port(), free_port()
    manager = amh.AlertmanagerProcess(
        AM_BINARIES[0],
        amh.write_config(tmp_path, slack_url=f"{receiver.url}/services/T/B/X"),
        am_port,
        tmp_path,
    )
    # Every crisiswatch job points at a port nobody listens on: CrisiswatchServiceDown fires.
    config = ph.write_config(
        tmp_path,
        targets={
            job: f"127.0.0.1:{dead_port}"
            for job in (
                "crisiswatch-api",
                "crisiswatch-ingest",
                "crisiswatch-sentiment",
                "crisiswatch-alerting",
            )
        },
        prometheus_address=f"127.0.0.1:{prom_port}",
        alertmanager=manager.address,
        alert_for="1s",
    )
    prometheus = ph.PrometheusProcess(PROM_BINARIES[0], config, prom_port, tmp_path)
    try:
        manager.wait_ready()
        prometheus.wait_ready()
        deadline = time.monotonic() + 90
        texts: list[str] = []
        while time.monotonic() < deadline:
            texts = [str(r.json()) for r in receiver.delivered()]
            if any("CrisiswatchServiceDown" in t for t in texts):
                break
            time.sleep(0.5)
    finally:
        prometheus.stop()
        manager.stop()
    fired = [t for t in texts if "CrisiswatchServiceDown" in t]
    assert fired, (
        f"no delivery; alertmanager log: {(tmp_path / 'alertmanager.log').read_text()[-2000:]}"
    )
    assert "Runbook: docs/runbooks.md#crisiswatchservicedown" in fired[0]
    assert "FIRING" in fired[0] and "critical" in fired[0]
    assert "crisiswatch-" in fired[0]  # the job label of the grouped alert
