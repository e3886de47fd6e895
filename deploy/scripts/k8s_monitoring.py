"""Print deploy/k8s/monitoring.yaml: Prometheus and Alertmanager for a Kubernetes deployment.

The rules and the Alertmanager routing are the ones compose and the tests use
(deploy/prometheus/rules.yml, deploy/alertmanager/alertmanager.yml), copied verbatim into
ConfigMaps; Prometheus' own configuration is the compose one with the static targets
replaced by pod discovery in the namespace (every pod annotated `prometheus.io/scrape`,
its job named `crisiswatch-<app.kubernetes.io/name>` as in compose, so the rules and the
dashboards read the same series). Images are compose's. Kustomize cannot read files outside
deploy/k8s, hence a generated file; tests/ops/test_manifests.py checks it is current.

    python3 deploy/scripts/k8s_monitoring.py > deploy/k8s/monitoring.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
NAMESPACE = "crisiswatch"
PART_OF = {"app.kubernetes.io/part-of": "crisiswatch"}


class _Block(str):
    """A string dumped as a YAML literal block (file contents stay readable)."""


def _block(dumper: yaml.SafeDumper, value: _Block) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


yaml.SafeDumper.add_representer(_Block, _block)


def _metadata(name: str, app: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": app or name, **PART_OF}
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def pod_discovery() -> list[dict[str, Any]]:
    """Scrape configs: every annotated pod of the namespace, its job as in compose."""
    pod = "__meta_kubernetes_pod_"
    return [
        {
            "job_name": "crisiswatch-pods",
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [NAMESPACE]}}],
            "relabel_configs": [
                {
                    "source_labels": [f"{pod}annotation_prometheus_io_scrape"],
                    "regex": "true",
                    "action": "keep",
                },
                {
                    "source_labels": [f"{pod}annotation_prometheus_io_path"],
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                },
                {
                    "source_labels": ["__address__", f"{pod}annotation_prometheus_io_port"],
                    "regex": r"([^:]+)(?::\d+)?;(\d+)",
                    "replacement": "$1:$2",
                    "target_label": "__address__",
                },
                {
                    "source_labels": [f"{pod}label_app_kubernetes_io_name"],
                    "target_label": "job",
                    "replacement": "crisiswatch-$1",
                },
                {
                    "source_labels": [f"{pod}label_app_kubernetes_io_name"],
                    "target_label": "service",
                },
                {"source_labels": [f"{pod}name"], "target_label": "pod"},
            ],
        },
        {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
    ]


def prometheus_config() -> dict[str, Any]:
    """Compose's Prometheus configuration with pod discovery instead of static targets."""
    compose = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    return {
        "global": compose["global"],
        "rule_files": ["/etc/prometheus/rules/rules.yml"],
        "alerting": compose["alerting"],
        "scrape_configs": pod_discovery(),
    }


def _images() -> dict[str, str]:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    return {name: services[name]["image"] for name in ("prometheus", "alertmanager")}


def _deployment(
    name: str, image: str, args: list[str], port: int, volumes: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """One non-root replica probing the server's own `/-/healthy` and `/-/ready`."""
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    mounts = [{"name": v, "mountPath": path, "readOnly": True} for v, path, _ in volumes]
    sources = [
        {"name": v, "secret" if kind.startswith("secret:") else "configMap": _source(kind)}
        for v, _, kind in volumes
    ]
    data = {"name": "data", "emptyDir": {}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **({"serviceAccountName": name} if name == "prometheus" else {}),
                    "securityContext": {"fsGroup": 65534},
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "args": args,
                            "ports": [{"name": "http", "containerPort": port}],
                            "readinessProbe": {
                                "httpGet": {"path": "/-/ready", "port": "http"},
                                "periodSeconds": 10,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/-/healthy", "port": "http"},
                                "periodSeconds": 20,
                            },
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 65534,
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                            },
                            "volumeMounts": [*mounts, {"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "volumes": [*sources, data],
                },
            },
        },
    }


def _source(kind: str) -> dict[str, str]:
    what, _, name = kind.partition(":")
    return {"secretName": name} if what == "secret" else {"name": name}


def _service(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name),
        "spec": {
            "selector": {"app.kubernetes.io/name": name, **PART_OF},
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }


def _discovery_rights() -> list[dict[str, Any]]:
    """Prometheus may list and watch the pods of the namespace, nothing else."""
    subject = {"kind": "ServiceAccount", "name": "prometheus", "namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata("prometheus")},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata("prometheus-discovery", "prometheus"),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata("prometheus-discovery", "prometheus"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "prometheus-discovery",
            },
            "subjects": [subject],
        },
    ]


def documents() -> list[dict[str, Any]]:
    """Every document of monitoring.yaml, in apply order."""
    images = _images()
    prometheus_yml = yaml.safe_dump(prometheus_config(), sort_keys=False)
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text()
    routing = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    return [
        *_discovery_rights(),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata("prometheus-config", "prometheus"),
            "data": {"prometheus.yml": _Block(prometheus_yml)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata("prometheus-rules", "prometheus"),
            "data": {"rules.yml": _Block(rules)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata("alertmanager-config", "alertmanager"),
            "data": {"alertmanager.yml": _Block(routing)},
        },
        _deployment(
            "prometheus",
            images["prometheus"],
            [
                "--config.file=/etc/prometheus/config/prometheus.yml",
                "--storage.tsdb.path=/data",
                "--storage.tsdb.retention.time=15d",
            ],
            9090,
            [
                ("config", "/etc/prometheus/config", "configmap:prometheus-config"),
                ("rules", "/etc/prometheus/rules", "configmap:prometheus-rules"),
            ],
        ),
        _service("prometheus", 9090),
        _deployment(
            "alertmanager",
            images["alertmanager"],
            ["--config.file=/etc/alertmanager/config/alertmanager.yml", "--storage.path=/data"],
            9093,
            [
                ("config", "/etc/alertmanager/config", "configmap:alertmanager-config"),
                ("ops-secrets", "/etc/alertmanager/secrets", "secret:crisiswatch-ops-alerts"),
            ],
        ),
        _service("alertmanager", 9093),
    ]


def main() -> int:
    """Write monitoring.yaml to stdout."""
    print("# Generated by deploy/scripts/k8s_monitoring.py from deploy/prometheus and")
    print("# deploy/alertmanager: edit those and regenerate, never this file.")
    print("# Prometheus scrapes every annotated crisiswatch pod and sends the rules' alerts to")
    print("# Alertmanager, which routes them to the operators (Secret crisiswatch-ops-alerts).")
    for doc in documents():
        print("---")
        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, width=100))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
