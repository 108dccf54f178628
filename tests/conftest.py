"""Real servers for the tests: Mosquitto and InfluxDB on free loopback ports,
with data under .run/ of the repository, started once per test session by
the project's own devtools/servers.py and stopped at the end."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devtools.fixtures import wait_until, write_hub_config  # noqa: F401  (tests import them from here)
from devtools.servers import REPO, Servers, ensure_installed, free_port

PY = sys.executable


@pytest.fixture(scope="session")
def servers():
    ensure_installed(quiet=True)
    run_dir = REPO / ".run" / f"test-{os.getpid()}"
    srv = Servers(run_dir, free_port(), free_port())
    srv.start()
    yield srv
    srv.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def unique():
    """A short unique name for databases, centers and client ids."""
    return "t" + uuid.uuid4().hex[:10]


class HubProcess:
    """`milk-hub ingest` as a real process that a test can stop, crash and restart."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "HubProcess":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PY, "-m", "hub", "ingest", "--config", str(self.config_path)],
                                     stdout=log, stderr=log, cwd=REPO)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """A crash: no goodbye, nothing flushed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def hub(servers, tmp_path, unique):
    """A hub ingest process with its own database and MQTT session."""
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data")
    process = HubProcess(config, tmp_path / "hub.log")
    process.database = unique
    yield process
    process.stop()
