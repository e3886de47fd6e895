"""PostgreSQL from Debian: install when missing, start the cluster, create role and database."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from shared.db.engine import create_engine, ping, wait_for_database
from shared.errors import InfraError
from shared.settings.infra import InfraSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterInfo:
    """One line of `pg_lsclusters`."""

    version: str
    name: str
    port: int
    online: bool


@dataclass(frozen=True)
class DatabaseStatus:
    """What `infra status` reports about PostgreSQL."""

    cluster: ClusterInfo | None
    ready: bool
    detail: str


def _run(
    cmd: list[str], *, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise InfraError(f"`{' '.join(cmd[:4])} ...` failed: {(proc.stderr or proc.stdout)[-800:]}")
    return proc


def ensure_installed(settings: InfraSettings) -> None:
    """Install PostgreSQL from Debian when `pg_ctlcluster` is missing (needs root)."""
    if shutil.which("pg_ctlcluster") and shutil.which("pg_lsclusters"):
        return
    if os.geteuid() != 0:
        raise InfraError(
            "PostgreSQL is not installed; run as root or: apt-get install -y postgresql"
        )
    log.info("installing PostgreSQL %s from Debian", settings.pg_version)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=900, env=env, check=False
        )
        if proc.returncode != 0:
            raise InfraError(f"`{' '.join(cmd)}` failed: {proc.stderr[-800:]}")


def find_cluster(settings: InfraSettings) -> ClusterInfo | None:
    """The configured cluster as `pg_lsclusters` reports it, or None when it does not exist."""
    proc = _run(["pg_lsclusters", "--no-header"], check=False)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == settings.pg_version and parts[1] == settings.pg_cluster:
            return ClusterInfo(parts[0], parts[1], int(parts[2]), parts[3].startswith("online"))
    return None


def start(settings: InfraSettings) -> bool:
    """Ensure the cluster exists and runs, and that the role and database exist."""
    ensure_installed(settings)
    cluster = find_cluster(settings)
    started = False
    if cluster is None:
        log.info("creating PostgreSQL cluster %s/%s", settings.pg_version, settings.pg_cluster)
        _run(
            [
                "pg_createcluster",
                settings.pg_version,
                settings.pg_cluster,
                "-p",
                str(settings.pg_port),
            ]
        )
        cluster = find_cluster(settings)
        if cluster is None:
            raise InfraError("pg_createcluster succeeded but the cluster is not listed")
    if cluster.port != settings.pg_port:
        raise InfraError(
            f"cluster {cluster.version}/{cluster.name} listens on port {cluster.port}, but "
            f"CRISISWATCH_PG_PORT is {settings.pg_port}; set CRISISWATCH_PG_PORT={cluster.port} "
            "or CRISISWATCH_PG_CLUSTER to another cluster name"
        )
    if not cluster.online:
        _run(["pg_ctlcluster", cluster.version, cluster.name, "start"], timeout=120)
        started = True
    _ensure_role_and_database(settings)
    asyncio.run(_wait_ready(settings))
    return started


def _psql(settings: InfraSettings, sql: str, *, database: str = "postgres") -> str:
    cmd = [
        "runuser",
        "-u",
        settings.pg_superuser,
        "--",
        "psql",
        "-p",
        str(settings.pg_port),
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ]
    if os.geteuid() != 0:
        cmd = cmd[3:]
    return _run(cmd, timeout=60).stdout.strip()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _ensure_role_and_database(settings: InfraSettings) -> None:
    user, db = settings.pg_user, settings.pg_database
    password = settings.pg_password.get_secret_value()
    # Identifiers and literals are quoted by _ident/_literal; psql takes no bind parameters.
    exists = _psql(settings, f"SELECT 1 FROM pg_roles WHERE rolname = {_literal(user)}")  # noqa: S608
    verb = "ALTER" if exists == "1" else "CREATE"
    _psql(settings, f"{verb} ROLE {_ident(user)} LOGIN CREATEDB PASSWORD {_literal(password)}")
    query = f"SELECT 1 FROM pg_database WHERE datname = {_literal(db)}"  # noqa: S608
    if _psql(settings, query) != "1":
        _psql(settings, f"CREATE DATABASE {_ident(db)} OWNER {_ident(user)}")


async def _wait_ready(settings: InfraSettings) -> None:
    engine = create_engine(settings)
    try:
        await wait_for_database(engine, timeout_s=30)
    finally:
        await engine.dispose()


def stop(settings: InfraSettings) -> bool:
    """Stop the cluster; True if it was running."""
    cluster = find_cluster(settings) if shutil.which("pg_lsclusters") else None
    if cluster is None or not cluster.online:
        return False
    _run(["pg_ctlcluster", cluster.version, cluster.name, "stop"], timeout=120)
    return True


def status(settings: InfraSettings) -> DatabaseStatus:
    """Cluster state plus a `SELECT 1` as the crisiswatch role."""
    if not shutil.which("pg_lsclusters"):
        return DatabaseStatus(None, False, "PostgreSQL is not installed")
    cluster = find_cluster(settings)
    if cluster is None or not cluster.online:
        return DatabaseStatus(cluster, False, "cluster is not running")

    async def check() -> None:
        engine = create_engine(settings)
        try:
            await ping(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except InfraError as exc:
        return DatabaseStatus(cluster, False, str(exc))
    return DatabaseStatus(cluster, True, "SELECT 1 answered")
