"""The dashboard on the demo's data: `make demo` prepares it, `make servers-start`
serves it (`milk-hub web` in the background), `make servers-stop` stops it.

`prepare()` adds an officer `oficial` with a fresh random password (kept in
`.run/demo/dashboard-password`, readable by its owner only) and a `[web]`
section to the demo's hub.toml pointing at the demo's statements.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

# devtools.servers calls this module: it must not import devtools.servers back.
REPO = Path(__file__).resolve().parent.parent

USER = "oficial"
DEFAULT_PORT = 8080
PERIOD = "2026-11-1"


def _paths(run: Path) -> dict[str, Path]:
    return {"config": run / "hub.toml", "password": run / "dashboard-password",
            "pid": run / "dashboard.pid", "port": run / "dashboard.port", "log": run / "dashboard.log"}


def prepare(run: Path) -> str:
    """Officer and `[web]` section for the demo's hub; returns what to tell the user."""
    p = _paths(run)
    config = p["config"].read_text()
    if "\n[web]" not in config:
        p["config"].write_text(config.rstrip("\n") + f'\n[web]\nport = {DEFAULT_PORT}\n'
                               f'statements_dir = "{run / "statements"}"\n')
    password = secrets.token_urlsafe(9)
    subprocess.run([sys.executable, "-m", "hub", "users", "add", USER, "--config", str(p["config"])],
                   input=password + "\n", text=True, check=True, cwd=REPO, capture_output=True)
    fd = os.open(p["password"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return (f"dashboard:  make servers-start, then open http://127.0.0.1:{DEFAULT_PORT}/?period={PERIOD}\n"
            f"            user {USER}, password in {p['password']} ({password});\n"
            f"            receipts checked without login at http://127.0.0.1:{DEFAULT_PORT}/receipt")


def start(run: Path) -> str | None:
    """Serve the demo's data with `milk-hub web` in the background (when `make demo`
    prepared it); returns the address, or None when there is no demo."""
    p = _paths(run)
    if not p["password"].exists() or not p["config"].exists():
        return None
    if stop(run):   # the one a previous servers-start left: let its port go first
        deadline = time.monotonic() + 5
        while _port_open(DEFAULT_PORT) and time.monotonic() < deadline:
            time.sleep(0.1)
    port = DEFAULT_PORT if not _port_open(DEFAULT_PORT) else free_port()
    with open(p["log"], "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hub", "web", "--config", str(p["config"]),
                                 "--port", str(port)], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                cwd=REPO, start_new_session=True)
    p["pid"].write_text(str(proc.pid))
    p["port"].write_text(str(port))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milk-hub web exited: see {p['log']}")
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return (f"dashboard on {url}/?period={PERIOD}  (user {USER}, password in {p['password']}; "
                        f"stop with make servers-stop)")
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"milk-hub web did not answer: see {p['log']}")


def stop(run: Path) -> bool:
    """Stop the dashboard `start` launched, if it still runs; True when it did."""
    pidfile = _paths(run)["pid"]
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    pidfile.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    """Running (a zombie no init has reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
