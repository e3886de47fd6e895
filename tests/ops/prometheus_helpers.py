"""Locate or install Prometheus, run a throw-away instance, and read dashboards' queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"
ENSURE_SCRIPT = PROMETHEUS_DIR / "ensure-prometheus.sh"

# Grafana variables, as Grafana would expand them for a one-hour view with a 1 s scrape.
GRAFANA_PROMQL_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "1h"}

# Metric names in PromQL: not preceded by a quote or letter, so label values like
# job=~"crisiswatch-.*" are not mistaken for metrics.
_SELECTOR = re.compile(
    r"(?<![\w\"'.-])((?:crisiswatch[\w:]*)|(?:process_\w+)|(?:up))\b(\{[^}]*\})?"
)


@dataclass(frozen=True)
class Query:
    """One expression to check: where it comes from and whether it is an alert condition."""

    origin: str
    expr: str
    alert: bool = False


def binaries() -> tuple[str, str] | None:
    """Paths of prometheus and promtool, installing the Debian package when allowed."""
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        subprocess.run(["bash", str(ENSURE_SCRIPT)], check=False, timeout=600)
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        return None
    return prometheus, promtool


def selectors(expr: str) -> list[str]:
    """The vector selectors (metric name plus matchers) an expression reads."""
    return [name + (matchers or "") for name, matchers in _SELECTOR.findall(expr)]


def metric_family(name: str) -> str:
    """The family name Prometheus metadata uses for a sample name (histogram suffixes cut)."""
    return re.sub(r"_(bucket|sum|count)$", "", name)


def rule_queries(rules_path: Path) -> list[Query]:
    """Every recording and alerting expression of a rules file."""
    doc = yaml.safe_load(rules_path.read_text())
    found: list[Query] = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("record") or rule["alert"]
            found.append(Query(f"rule {name}", " ".join(rule["expr"].split()), "alert" in rule))
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboards() -> dict[str, dict[str, Any]]:
    """The provisioned dashboards by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def dashboard_targets(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(origin, target) of every panel target whose datasource type contains `kind`."""
    for file, dash in dashboards().items():
        for panel in _panels(dash["panels"]):
            for target in panel.get("targets", []):
                ds = target.get("datasource") or panel.get("datasource") or {}
                if kind in ds.get("type", ""):
                    yield f"{file}: {panel['title']} [{target['refId']}]", target


def dashboard_queries() -> list[Query]:
    """Every PromQL expression of every dashboard panel, Grafana variables expanded."""
    found = []
    for origin, target in dashboard_targets("prometheus"):
        expr = target["expr"]
        for var, value in GRAFANA_PROMQL_VARIABLES.items():
            expr = expr.replace(var, value)
        found.append(Query(origin, expr))
    return found


def write_config(
    workdir: Path,
    *,
    targets: dict[str, str],
    prometheus_address: str,
    interval_s: int = 1,
    alertmanager: str | None = None,
    alert_for: str | None = None,
) -> Path:
    """A copy of deploy/prometheus/prometheus.yml with `targets` per job and a short interval.

    Alerts go to `alertmanager` (host:port), or nowhere when None; `alert_for` replaces
    every alert's `for:` duration (to fire within a test).
    """
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = f"{interval_s}s"
    config["global"]["evaluation_interval"] = f"{interval_s}s"
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        for manager in config["alerting"]["alertmanagers"]:
            for static in manager["static_configs"]:
                static["targets"] = [alertmanager]
    for job in config["scrape_configs"]:
        name = job["job_name"]
        address = prometheus_address if name == "prometheus" else targets[name]
        for static in job["static_configs"]:
            static["targets"] = [address]
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = f"{interval_s}s"
        for rule in group["rules"]:
            if alert_for is not None and "alert" in rule:
                rule["for"] = alert_for
    (workdir / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class PrometheusProcess:
    """A Prometheus server on a free port with its own data directory; stop() kills it."""

    def __init__(self, binary: str, config: Path, port: int, workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = (workdir / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        """Poll /-/ready until it answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("prometheus did not become ready")

    def stop(self) -> None:
        """Terminate the process (kill after 10 s) and close its log."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
