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


K8S_MONITORING = ROOT / "deploy" / "k8s" / "monitoring.yaml"


def _k8s_documents() -> dict[tuple[str, str], dict]:
    docs = [d for d in yaml.safe_load_all(K8S_MONITORING.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_k8s_monitoring_is_generated_from_the_shipped_configuration() -> None:
    done = subprocess.run(
        ["python3", str(ROOT / "deploy" / "scripts" / "k8s_monitoring.py")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    regenerate = "python3 deploy/scripts/k8s_monitoring.py > deploy/k8s/monitoring.yaml"
    assert done.stdout == K8S_MONITORING.read_text(), f"stale: {regenerate}"
    docs = _k8s_documents()
    rules = docs[("ConfigMap", "prometheus-rules")]["data"]["rules.yml"]
    assert rules == (ph.PROMETHEUS_DIR / "rules.yml").read_text()
    routing = docs[("ConfigMap", "alertmanager-config")]["data"]["alertmanager.yml"]
    assert routing == amh.CONFIG.read_text()


def test_k8s_prometheus_scrapes_every_service_under_its_compose_job_name() -> None:
    """Pod discovery names each job `crisiswatch-<app>`: the rules' and dashboards' series."""
    docs = _k8s_documents()
    config = yaml.safe_load(docs[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    relabel = {
        r.get("target_label"): r
        for job in config["scrape_configs"]
        for r in job.get("relabel_configs", [])
    }
    assert relabel["job"]["replacement"] == "crisiswatch-$1"
    k8s = ROOT / "deploy" / "k8s"
    scraped = {
        "crisiswatch-" + d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for path in k8s.glob("*.yaml")
        if path.name != "kustomization.yaml"
        for d in yaml.safe_load_all(path.read_text())
        if d
        and d["kind"] == "Deployment"
        and d["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape")
    }
    compose = yaml.safe_load((ph.PROMETHEUS_DIR / "prometheus.yml").read_text())
    compose_jobs = {j["job_name"] for j in compose["scrape_configs"]} - {"prometheus"}
    assert scraped == compose_jobs
    targets = [t for m in config["alerting"]["alertmanagers"] for s in m["static_configs"]
               for t in s["targets"]]  # fmt: skip
    assert targets == ["alertmanager:9093"]
    service = docs[("Service", "alertmanager")]["spec"]["ports"][0]["port"]
    assert service == 9093
    manager = docs[("Deployment", "alertmanager")]["spec"]["template"]["spec"]
    secret = next(v for v in manager["volumes"] if "secret" in v)["secret"]["secretName"]
    mounts = manager["containers"][0]["volumeMounts"]
    assert any(m["mountPath"] == str(Path(amh.SECRET_FILE).parent) for m in mounts)
    shipped = [d for d in yaml.safe_load_all((k8s / "secret.yaml").read_text()) if d]
    assert {"ops_slack_webhook_url"} <= set(
        next(d for d in shipped if d["metadata"]["name"] == secret)["stringData"]
    )


@needs_binaries
def test_promtool_and_amtool_accept_the_k8s_configuration(tmp_path: Path) -> None:
    assert AM_BINARIES is not None and PROM_BINARIES is not None
    docs = _k8s_documents()
    rules = docs[("ConfigMap", "prometheus-rules")]["data"]["rules.yml"]
    (tmp_path / "rules.yml").write_text(rules)
    config = yaml.safe_load(docs[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    config["rule_files"] = [str(tmp_path / "rules.yml")]
    for job in config["scrape_configs"]:
        # Debian builds Prometheus without Kubernetes discovery: check everything else (the
        # relabelling regexes included) with a static target in its place.
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    promtool = PROM_BINARIES[1]
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routing = docs[("ConfigMap", "alertmanager-config")]["data"]["alertmanager.yml"]
    (tmp_path / "alertmanager.yml").write_text(routing)
    am = subprocess.run(
        [AM_BINARIES[1], "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert am.returncode == 0, am.stdout + am.stderr
