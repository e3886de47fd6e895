"""Static checks of the deployment files: Kubernetes manifests, compose file, Dockerfile.

No cluster or Docker engine is needed. Kubernetes documents are checked against a small
structural schema per kind used here (the fields the API server requires, plus what this
project relies on: probes, resources, selectors matching pod labels, KEDA's Kafka trigger).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import build_parser
from shared.http.health import router as health_router

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

# kind -> (apiVersion, required dotted paths)
SCHEMAS: dict[str, tuple[str, list[str]]] = {
    "Namespace": ("v1", []),
    "ConfigMap": ("v1", ["data"]),
    "Secret": ("v1", ["type", "stringData"]),
    "Service": ("v1", ["spec.selector", "spec.ports"]),
    "Deployment": (
        "apps/v1",
        [
            "spec.replicas",
            "spec.selector.matchLabels",
            "spec.template.metadata.labels",
            "spec.template.spec.containers",
        ],
    ),
    "Job": ("batch/v1", ["spec.template.spec.containers", "spec.template.spec.restartPolicy"]),
    "PodDisruptionBudget": ("policy/v1", ["spec.selector.matchLabels"]),
    "ScaledObject": ("keda.sh/v1alpha1", ["spec.scaleTargetRef.name", "spec.triggers"]),
    "HorizontalPodAutoscaler": ("autoscaling/v2", ["spec.scaleTargetRef", "spec.maxReplicas"]),
    "ServiceAccount": ("v1", []),
    "Role": ("rbac.authorization.k8s.io/v1", ["rules"]),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", ["roleRef.name", "subjects"]),
}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _get(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []))


def _cli_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


def _routes() -> set[str]:
    return {route.path for route in health_router.routes}  # type: ignore[attr-defined]


DOCS = _documents()


def test_every_document_parses_with_identity() -> None:
    """Every manifest has apiVersion, kind and a DNS-1123 metadata.name; kinds are known."""
    assert len(DOCS) >= 12
    for file, doc in DOCS:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), file
        assert NAME.match(doc["metadata"]["name"]), f"{file}: bad name {doc['metadata']['name']}"
        assert doc["kind"] in SCHEMAS, f"{file}: no schema for kind {doc['kind']}"
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "crisiswatch", file


@pytest.mark.parametrize(("file", "doc"), DOCS, ids=[f"{f}:{d['kind']}" for f, d in DOCS])
def test_required_fields_per_kind(file: str, doc: dict[str, Any]) -> None:
    """Each document carries its kind's apiVersion and required fields."""
    api_version, required = SCHEMAS[doc["kind"]]
    assert doc["apiVersion"] == api_version, file
    for dotted in required:
        _get(doc, dotted)
    for container in _containers(doc):
        assert {"name", "image"} <= container.keys(), file
        assert container.get("args"), f"{file}: container {container['name']} runs no command"


def test_deployments_select_their_pods_and_probe_real_routes() -> None:
    """Selectors match pod labels; services and PDBs select a Deployment; probes hit routes."""
    deployments = {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == "Deployment"}
    assert {f"crisiswatch-{n}" for n in ("api", "ingest", "sentiment", "alerting")} <= set(
        deployments
    )
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    routes = _routes()
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    # Prometheus and Alertmanager probe their own `/-/ready` and `/-/healthy`.
    monitoring_routes = {"/-/ready", "/-/healthy"}
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items(), name
        served = routes if name.startswith("crisiswatch-") else monitoring_routes
        for container in _containers(dep):
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for kind in ("readinessProbe", "livenessProbe"):
                probe = container[kind]["httpGet"]
                assert probe["path"] in served, f"{name}: {kind} {probe['path']} is no route"
                assert probe["port"] in ports, f"{name}: {kind} port {probe['port']}"
            assert container["resources"]["requests"], name
            assert container["securityContext"]["runAsNonRoot"] is True, name
    for service in ("api", "ingest", "sentiment", "alerting"):
        container = _containers(deployments[f"crisiswatch-{service}"])[0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for file, doc in DOCS:
        if doc["kind"] in ("Service", "PodDisruptionBudget"):
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= labels.items() for labels in pod_labels), file


def test_keda_scales_sentiment_on_consumer_lag() -> None:
    """The ScaledObject targets the sentiment Deployment with a Kafka lag trigger."""
    config = next(d for _, d in DOCS if d["kind"] == "ConfigMap")["data"]
    scaled = [d for _, d in DOCS if d["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    spec = scaled[0]["spec"]
    assert spec["scaleTargetRef"]["name"] == "crisiswatch-sentiment"
    trigger = spec["triggers"][0]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == config["CRISISWATCH_SENTIMENT_GROUP_ID"]
    assert meta["topic"] == config["CRISISWATCH_TOPIC_RAW"]
    assert int(meta["lagThreshold"]) > 0
    assert meta["bootstrapServers"] == config["CRISISWATCH_KAFKA_BOOTSTRAP"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]


def _settings_names() -> set[str]:
    """Every environment variable the settings tree reads."""
    from shared.settings.tree import SECTIONS

    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in SECTIONS.values()
        for name in cls.model_fields
    }


def test_configmap_and_secret_use_real_settings() -> None:
    """Every key is a crisiswatch setting of the settings tree (as listed in .env.example)."""
    documented = set(re.findall(r"^(CRISISWATCH_\w+)=", (ROOT / ".env.example").read_text(), re.M))
    known = _settings_names()
    assert documented == known
    env_sources = {
        ref["name"]
        for _, doc in DOCS
        for container in _containers(doc)
        for source in container.get("envFrom", [])
        for ref in (source.get("configMapRef"), source.get("secretRef"))
        if ref
    }
    assert env_sources == {"crisiswatch-config", "crisiswatch-secrets"}
    for file, doc in DOCS:
        if doc["kind"] in ("ConfigMap", "Secret") and doc["metadata"]["name"] in env_sources:
            keys = doc.get("data") or doc.get("stringData")
            unknown = set(keys) - known
            assert not unknown, f"{file}: unknown settings {unknown}"


def test_compose_and_dockerfile_set_only_real_settings() -> None:
    """No deployment file sets a retired or misspelt CRISISWATCH_ variable."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    names = {
        key
        for service in compose["services"].values()
        for key in service.get("environment") or {}
        if key.startswith("CRISISWATCH_")
    }
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    names |= set(re.findall(r"\b(CRISISWATCH_\w+)=", dockerfile))
    assert names, "no settings found: the parsing above is broken"
    unknown = names - _settings_names()
    assert not unknown, f"unknown settings {unknown}"


def test_kustomization_lists_every_manifest() -> None:
    """`kubectl apply -k deploy/k8s` applies every file."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_compose_services_healthchecks_and_dependencies() -> None:
    """Compose runs infra, the four services, Prometheus and Grafana with health checks."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    expected = {"kafka", "postgres", "api", "ingest", "sentiment", "alerting"}
    assert expected | {"prometheus", "grafana", "migrate", "kafka-init"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    commands = _cli_commands()
    conditions = {"service_healthy", "service_completed_successfully", "service_started"}
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] in conditions, name
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck"
        if name in expected | {"prometheus", "grafana"}:
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        if svc.get("build"):
            assert svc["command"][0] in commands, f"{name}: {svc['command']} is no CLI command"
    for name in ("api", "ingest", "sentiment", "alerting"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["kafka-init"]["condition"] == "service_completed_successfully"
    routes = _routes()
    for name in ("api", "ingest"):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert any(route in probe for route in routes), name
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), f"missing mounted file {source}"


def test_dockerfile_runs_the_cli_as_non_root() -> None:
    """python:3.11-slim, torch from a chosen index, a non-root user, a `crisiswatch` entrypoint."""
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "ARG TORCH_INDEX_URL" in text and '--index-url "$TORCH_INDEX_URL"' in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    entry = re.search(r"^ENTRYPOINT (\[.*\])", text, re.M)
    assert entry and yaml.safe_load(entry.group(1)) == ["crisiswatch"]
    cmd = re.search(r"^CMD (\[.*\])", text, re.M)
    assert cmd and yaml.safe_load(cmd.group(1))[0] in _cli_commands()
    for src in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
        assert (ROOT / src).exists(), f"COPY {src}: no such path"
    ports = {int(p) for p in shlex.split(re.search(r"^EXPOSE (.*)$", text, re.M).group(1))}
    assert {8080, 8081, 9102, 9103} <= ports


def test_grafana_provisioning_matches_dashboards() -> None:
    """Datasource uids used by the dashboards are provisioned; dashboards are loaded."""
    import json

    provisioned = set()
    for path in (DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yaml"):
        provisioned |= {ds["uid"] for ds in yaml.safe_load(path.read_text())["datasources"]}
    used = set()
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            used.add(panel["datasource"]["uid"])
            used |= {t["datasource"]["uid"] for t in panel["targets"]}
    assert used and used <= provisioned
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "crisiswatch.yaml").read_text()
    )["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"
