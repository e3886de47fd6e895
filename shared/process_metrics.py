"""Process-level metrics (CPU, memory, file descriptors, GC, build info) on a service registry.

The services use their own `CollectorRegistry` rather than prometheus_client's global one, so
the default process and platform collectors are not exposed unless registered here.
"""

from __future__ import annotations

from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)

__all__ = ["register_process_metrics"]


def _version() -> str:
    try:
        return metadata.version("crisiswatch")
    except metadata.PackageNotFoundError:
        return "unknown"


def register_process_metrics(registry: CollectorRegistry, *, service: str) -> None:
    """Add process_*, python_* and crisiswatch_build_info{service,version} to `registry`."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    info = Info(
        "crisiswatch_build",
        "Version of the running crisiswatch service.",
        ["service"],
        registry=registry,
    )
    info.labels(service).info({"version": _version()})
