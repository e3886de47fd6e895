"""Locate Alertmanager and run a throw-away instance of the shipped configuration."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from tests.ops.prometheus_helpers import ENSURE_SCRIPT, ROOT

CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
SECRET_FILE = "/etc/alertmanager/secrets/ops_slack_webhook_url"


def binaries() -> tuple[str, str] | None:
    """Paths of the Alertmanager server and amtool, installing the Debian package if allowed."""
    names = ("prometheus-alertmanager", "alertmanager")
    if not any(shutil.which(n) for n in names) or shutil.which("amtool") is None:
        subprocess.run(["bash", str(ENSURE_SCRIPT)], check=False, timeout=600)
    server = next((shutil.which(n) for n in names if shutil.which(n)), None)
    amtool = shutil.which("amtool")
    return (server, amtool) if server and amtool else None


def write_config(workdir: Path, *, slack_url: str) -> Path:
    """The shipped configuration with the webhook URL file in `workdir` and short waits."""
    secret = workdir / "ops_slack_webhook_url"
    secret.write_text(slack_url)
    text = CONFIG.read_text().replace(SECRET_FILE, str(secret))
    config = yaml.safe_load(text)
    config["route"].update(group_wait="1s", group_interval="2s")
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class AlertmanagerProcess:
    """An Alertmanager on a free port, clustering off, with its own storage; stop() ends it."""

    def __init__(self, binary: str, config: Path, port: int, workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.address = f"127.0.0.1:{port}"
        self._log = (workdir / "alertmanager.log").open("wb")
        self._proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address={self.address}",
                "--cluster.listen-address=",
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
                raise RuntimeError(f"alertmanager exited with {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("alertmanager did not become ready")

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
