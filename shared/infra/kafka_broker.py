"""A single-node Apache Kafka broker in KRaft mode, assembled from Maven Central artifacts.

The jars are fetched once with `mvn dependency:copy-dependencies` from `deploy/kafka/pom.xml`
into the cache directory; config, data, logs and the pid live under the state directory.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.errors import BrokerUnavailable, InfraError
from shared.infra.process import port_open, read_pid, terminate
from shared.kafka import ensure_topics, list_topics, wait_for_broker
from shared.settings.infra import InfraSettings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


@dataclass(frozen=True)
class BrokerStatus:
    """What `infra status` reports about the broker."""

    running: bool
    pid: int | None
    ready: bool
    topics: dict[str, int]
    detail: str


def find_java(settings: InfraSettings) -> Path:
    """The `java` binary to run Kafka with: configured, else Java 17, else the default one."""
    candidates: list[Path] = []
    if settings.java_home:
        candidates.append(settings.java_home / "bin" / "java")
    candidates += sorted(Path("/usr/lib/jvm").glob("*17*/bin/java"))
    default = shutil.which("java")
    if default:
        candidates.append(Path(default))
    for java in candidates:
        if java.exists():
            major = _java_major(java)
            if major is not None and major >= 17:
                return java
    raise InfraError(
        "no Java 17+ found: install it (apt-get install -y openjdk-17-jre-headless) "
        "or set CRISISWATCH_JAVA_HOME"
    )


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else None


def ensure_jars(settings: InfraSettings) -> Path:
    """Fetch the broker jars into the cache unless they are there already."""
    libs = settings.kafka_libs_dir
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) is required to fetch Kafka: apt-get install -y maven")
    if not POM.exists():
        raise InfraError(f"{POM} is missing: run crisiswatch from its source checkout")
    libs.mkdir(parents=True, exist_ok=True)
    log.info("fetching Kafka %s jars into %s", settings.kafka_version, libs)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
        f"-Dkafka.version={settings.kafka_version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-1500:]
        raise InfraError(
            "Maven could not fetch the Kafka jars (is the Maven repository reachable?):\n" + tail
        )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise InfraError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    marker.write_text(settings.kafka_version)
    return libs


def write_config(settings: InfraSettings) -> Path:
    """Write server.properties and the log4j2 config; return the server.properties path."""
    root = settings.kafka_dir
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    host = settings.kafka_host
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{host}:{settings.kafka_port},"
        f"CONTROLLER://{host}:{settings.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{settings.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data.resolve()),
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "16777216",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
    }
    server = root / "config" / "server.properties"
    server.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    log4j = root / "config" / "log4j2.properties"
    log4j.write_text(LOG4J2_PROPERTIES.format(log_file=(root / "logs" / "server.log").resolve()))
    return server


def _classpath(libs: Path) -> str:
    return f"{libs.resolve()}/*"


def format_storage(settings: InfraSettings, java: Path, libs: Path, server: Path) -> None:
    """Format the KRaft data directory once (a formatted directory is left alone)."""
    if (settings.kafka_dir / "data" / "meta.properties").exists():
        return
    cluster_id = _random_cluster_id()
    cmd = [
        str(java),
        "-cp",
        _classpath(libs),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(server),
        "--ignore-formatted",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise InfraError(f"formatting Kafka storage failed:\n{(proc.stdout + proc.stderr)[-1500:]}")


def _random_cluster_id() -> str:
    # A base64url UUID as StorageTool expects; one starting with '-' confuses its arg parser.
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def start(settings: InfraSettings, *, timeout_s: float = 120.0) -> bool:
    """Start the broker unless it runs already; return True when it was started now."""
    pid_file = settings.kafka_dir / "kafka.pid"
    if read_pid(pid_file) is not None:
        asyncio.run(wait_for_broker(settings.bootstrap_servers, timeout_s=timeout_s))
        asyncio.run(ensure_topics(settings.bootstrap_servers, settings.topic_partitions()))
        return False
    for port in (settings.kafka_port, settings.kafka_controller_port):
        if port_open(settings.kafka_host, port):
            raise InfraError(
                f"port {port} on {settings.kafka_host} is taken by another process; stop it or "
                "set CRISISWATCH_KAFKA_PORT / CRISISWATCH_KAFKA_CONTROLLER_PORT"
            )
    java = find_java(settings)
    libs = ensure_jars(settings)
    server = write_config(settings)
    format_storage(settings, java, libs, server)
    out = (settings.kafka_dir / "logs" / "server.out").open("ab")
    cmd = [
        str(java),
        "-Xms256m",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={(settings.kafka_dir / 'config' / 'log4j2.properties')}",
        f"-Dkafka.logs.dir={settings.kafka_dir / 'logs'}",
        "-cp",
        _classpath(libs),
        "kafka.Kafka",
        str(server),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=settings.kafka_dir,
    )
    pid_file.write_text(str(proc.pid))
    try:
        asyncio.run(_wait_started(settings, proc, timeout_s))
    except InfraError:
        stop(settings)
        raise
    asyncio.run(ensure_topics(settings.bootstrap_servers, settings.topic_partitions()))
    return True


async def _wait_started(
    settings: InfraSettings, proc: subprocess.Popen[bytes], timeout_s: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise InfraError(
                f"Kafka exited with code {proc.returncode}; see {settings.kafka_dir / 'logs'}:\n"
                + _log_tail(settings)
            )
        try:
            await wait_for_broker(settings.bootstrap_servers, timeout_s=2.0)
            return
        except BrokerUnavailable:
            continue
    raise InfraError(f"Kafka did not become ready in {timeout_s}s:\n{_log_tail(settings)}")


def _log_tail(settings: InfraSettings, lines: int = 20) -> str:
    out = []
    for name in ("server.out", "server.log"):
        path = settings.kafka_dir / "logs" / name
        if path.exists():
            out += path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(out[-lines:])


def stop(settings: InfraSettings) -> bool:
    """Stop the broker gracefully (SIGTERM, then SIGKILL after 30 s); True if it was running."""
    pid_file = settings.kafka_dir / "kafka.pid"
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    terminate(pid, grace_s=30.0)
    pid_file.unlink(missing_ok=True)
    return True


def status(settings: InfraSettings) -> BrokerStatus:
    """Whether our broker process runs and answers metadata requests."""
    pid = read_pid(settings.kafka_dir / "kafka.pid")
    try:
        topics = asyncio.run(_topics(settings))
        return BrokerStatus(pid is not None, pid, True, topics, "metadata request answered")
    except BrokerUnavailable as exc:
        return BrokerStatus(pid is not None, pid, False, {}, str(exc))


async def _topics(settings: InfraSettings) -> dict[str, int]:
    async with asyncio.timeout(10):
        return await list_topics(settings.bootstrap_servers)
