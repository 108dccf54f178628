"""Install, start and stop the real servers (Mosquitto, InfluxDB 1.x) on loopback.

Used by `make demo`, `make test` (through tests/conftest.py) and by hand:

    python -m devtools.servers ensure              # install when missing
    python -m devtools.servers start --dir .run/demo --mqtt-port 18830 --influx-port 18086
    python -m devtools.servers stop --dir .run/demo

Each server gets its config generated from `deploy/*.conf.in` and its data in
`DIR/`, so several instances (the demo, each test session) can run side by
side with other brokers or databases on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
APT_PACKAGES = ["mosquitto", "influxdb"]
APT_COMMAND = (
    "apt-get update && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES)
)
# Debian puts mosquitto in /usr/sbin, which is not on a normal user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def ensure_installed(quiet: bool = False) -> None:
    """Install Mosquitto and InfluxDB from the distribution when missing.

    As root this runs apt-get; otherwise it prints the one command to run and
    exits with status 2, because nothing else can work without the servers.
    """
    missing = [b for b in ("mosquitto", "influxd") if find_binary(b) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.stderr.write(
            f"missing {', '.join(missing)}: run as root:\n  sudo sh -c '{APT_COMMAND}'\n"
        )
        raise SystemExit(2)
    if not quiet:
        print(f"installing {' '.join(APT_PACKAGES)} from the distribution ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["sh", "-c", APT_COMMAND], check=True, env=env,
                   stdout=subprocess.DEVNULL if quiet else None)
    still = [b for b in ("mosquitto", "influxd") if find_binary(b) is None]
    if still:
        raise SystemExit(f"installation did not provide {', '.join(still)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _render(template: Path, out: Path, values: dict[str, str]) -> None:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    out.write_text(text)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); look at its state where /proc exists.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_pid(pidfile: Path, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> bool:
    """Stop the process named in pidfile; True when something was stopped."""
    pid = _read_pid(pidfile)
    if pid is None or not _pid_alive(pid):
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _pid_alive(pid):
        try:  # reap it when it is our own child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    pidfile.unlink(missing_ok=True)
    return True


def _launch(name: str, args: list[str], log_path: Path, pidfile: Path, ready, timeout_s: float,
            log_hint: Path | None = None) -> bool:
    """Start a server in a session of its own (ending the launching shell must
    not end it), record its pid, and wait until `ready()`; True when started."""
    binary = find_binary(name)
    if binary is None:
        raise RuntimeError(f"{name} is not installed (python -m devtools.servers ensure)")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([binary, *args], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: see {log_hint or log_path}")
        if ready():
            return True
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become ready within {timeout_s}s")


@dataclass
class Mosquitto:
    run_dir: Path
    port: int

    @property
    def security_dir(self) -> Path:
        """CA, server certificate, password file, ACL (`milk-hub provision`'s files)."""
        return self.run_dir / "security"

    def reload(self) -> None:
        """SIGHUP: re-read the password file and the ACL."""
        pid = _read_pid(self.pidfile)
        if pid and _pid_alive(pid):
            os.kill(pid, signal.SIGHUP)

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "mosquitto.server.pid"

    def start(self, timeout_s: float = 10.0) -> bool:
        """Start it; False when it was already running (then it is left alone)."""
        pid = _read_pid(self.pidfile)
        if pid and _pid_alive(pid) and _port_open(self.port):
            return False
        if _port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken by another program")
        data = self.run_dir / "mosquitto-data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "mosquitto.conf"
        # As root, mosquitto drops to the `mosquitto` user, which cannot write
        # a data folder below a 0700 parent (pytest and mktemp make those) and
        # then fails silently (docs/servers.md): a loopback test broker keeps
        # root instead.
        user_line = "user root" if os.geteuid() == 0 else ""
        _render(DEPLOY / "mosquitto.conf.in", conf, {
            "MQTT_PORT": str(self.port), "DATA_DIR": str(data),
            "RUN_DIR": str(self.run_dir), "USER_LINE": user_line,
            "SECURITY_DIR": str(self.security_dir),
        })
        return _launch("mosquitto", ["-c", str(conf)], self.run_dir / "mosquitto.stdout",
                       self.pidfile, lambda: _port_open(self.port), timeout_s,
                       log_hint=self.run_dir / "mosquitto.log")

    def stop(self) -> bool:
        return stop_pid(self.pidfile)

    def kill(self) -> bool:
        """Crash it (SIGKILL), as a power cut would."""
        return stop_pid(self.pidfile, sig=signal.SIGKILL)


@dataclass
class InfluxDB:
    run_dir: Path
    http_port: int
    rpc_port: int = field(default=0)

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "influxd.server.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def ping(self) -> bool:
        try:
            return requests.get(self.url + "/ping", timeout=0.5).status_code == 204
        except requests.RequestException:
            return False

    def start(self, timeout_s: float = 30.0) -> bool:
        """Start it; False when it was already running (then it is left alone)."""
        pid = _read_pid(self.pidfile)
        if pid and _pid_alive(pid) and self.ping():
            return False
        if _port_open(self.http_port):
            raise RuntimeError(f"port {self.http_port} is already taken by another program")
        if not self.rpc_port:
            self.rpc_port = free_port()
        data = self.run_dir / "influxdb-data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "influxdb.conf"
        _render(DEPLOY / "influxdb.conf.in", conf, {
            "HTTP_PORT": str(self.http_port), "RPC_PORT": str(self.rpc_port),
            "DATA_DIR": str(data),
        })
        return _launch("influxd", ["-config", str(conf)], self.run_dir / "influxd.log",
                       self.pidfile, self.ping, timeout_s)

    def stop(self) -> bool:
        return stop_pid(self.pidfile)


_RUNNING: dict[int, "Servers"] = {}


@dataclass
class Servers:
    """Both servers for one folder; the ports are kept in DIR/ports."""

    run_dir: Path
    mqtt_port: int
    influx_port: int

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        self.mosquitto = Mosquitto(self.run_dir, self.mqtt_port)
        self.influxdb = InfluxDB(self.run_dir, self.influx_port)
        from devtools.security import LoopbackSecurity
        self.security = LoopbackSecurity(self.mosquitto)

    @staticmethod
    def for_port(mqtt_port: int) -> "Servers | None":
        """The servers this process started with that broker port, if any."""
        return _RUNNING.get(mqtt_port)

    # The secure broker's access, for tests and tools (devtools/security.py).
    def provision_station(self, center: str, station: str, key: bytes | None = None):
        """A station's broker login and HMAC key (registered in the shared key store)."""
        return self.security.provision_station(center, station, key=key)

    def station_mqtt(self, center: str, station: str, key: bytes | None = None) -> str:
        """The station.toml `[mqtt]` + `[integrity]` fragment of that station."""
        return self.provision_station(center, station, key).toml()

    def revoke_station(self, center: str, station: str):
        return self.security.revoke_station(center, station)

    def mqtt_client(self, access=None, **kwargs):
        """A paho client with TLS and a login: the hub's user unless `access` is given
        (a StationAccess, or anything with the `[mqtt]` access keys)."""
        return self.security.client(access, **kwargs)

    def client_credentials(self, user: str) -> dict:
        """{tls_ca, username, password} of "hub" or of a station login "center.station"."""
        return self.security.client_credentials(user)

    @property
    def hub_access(self):
        return self.security.hub_access

    @property
    def keys_path(self) -> Path:
        return self.security.keys_path

    def start(self) -> bool:
        """Start both; True when this call started at least one of them."""
        self.security.prepare()
        started = self.mosquitto.start()
        if not started:          # already running: it must re-read the files prepare() wrote
            self.mosquitto.reload()
        started = self.influxdb.start() or started
        (self.run_dir / "ports").write_text(f"{self.mqtt_port} {self.influx_port}\n")
        _RUNNING[self.mqtt_port] = self
        self.security.wait_for_login(self.security.probe)
        return started

    def stop(self) -> None:
        _RUNNING.pop(self.mqtt_port, None)
        self.mosquitto.stop()
        self.influxdb.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.servers")
    parser.add_argument("action", choices=["ensure", "start", "stop"])
    parser.add_argument("--dir", default=str(REPO / ".run" / "demo" / "servers"),
                        help="the run folder (default: the demo's)")
    parser.add_argument("--mqtt-port", type=int, default=18830)
    parser.add_argument("--influx-port", type=int, default=18086)
    args = parser.parse_args(argv)
    if args.action == "ensure":
        ensure_installed()
        return 0
    servers = Servers(Path(args.dir), args.mqtt_port, args.influx_port)
    if args.action == "start":
        ensure_installed()
        servers.start()
        print(f"mosquitto on 127.0.0.1:{args.mqtt_port}, influxdb on {servers.influxdb.url}, data in {servers.run_dir}")
        print(servers.security.how_to_connect())
        # After `make demo`: its dashboard too (devtools/dashboard_demo.py).
        from devtools.dashboard_demo import start as start_dashboard
        dashboard = start_dashboard(servers.run_dir.parent)
        if dashboard:
            print(dashboard)
    else:
        from devtools.dashboard_demo import stop as stop_dashboard
        stop_dashboard(servers.run_dir.parent)
        servers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
