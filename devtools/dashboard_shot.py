"""Screenshots of the dashboard for docs/ (docs/dashboard*.png).

    python -m devtools.dashboard_shot                 # a scene of its own (temporary servers)
    python -m devtools.dashboard_shot --url http://127.0.0.1:8080 --user NAME --password-file F
                                      --period 2026-11-1 --out docs/dashboard-demo.png

Without `--url` it starts Mosquitto and InfluxDB in a temporary folder,
writes the tests' scene (devtools/dashboard_data.py: a fortnight at two
benches, a tank in break with its alert), serves it with `milk-hub web`, and
takes docs/dashboard.png (the page), docs/dashboard-login.png and
docs/dashboard-receipt.png.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from devtools.browser import chromium
from devtools.servers import REPO, Servers, free_port

WIDTH = 1280


def shoot(url: str, user: str, password: str, period: str, out: Path, receipt_code: str | None = None,
          extra: bool = True) -> list[Path]:
    taken = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=1)
        page.goto(f"{url}/login?next=/?period={period}")
        if extra:
            page.screenshot(path=str(out.with_name(out.stem + "-login.png")))
            taken.append(out.with_name(out.stem + "-login.png"))
        page.get_by_test_id("login-user").fill(user)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out), full_page=True)
        taken.append(out)
        if extra and receipt_code:
            page.goto(f"{url}/receipt?code={receipt_code}")
            path = out.with_name(out.stem + "-receipt.png")
            page.screenshot(path=str(path))
            taken.append(path)
    return taken


def scene(out: Path) -> list[Path]:
    from devtools import dashboard_data as data
    from devtools.fixtures import write_hub_config
    from hub.store.influx import InfluxV1

    tmp = Path(tempfile.mkdtemp(prefix="dashboard-shot-", dir=REPO / ".run"))
    servers = Servers(tmp / "servers", free_port(), free_port())
    servers.start()
    web = None
    try:
        influx = InfluxV1(servers.influxdb.url, "milk")
        influx.create_database()
        written = data.seed_fortnight(influx, "centro1", tmp / "hub-data", ZoneInfo("America/Lima"))
        port = free_port()
        config = write_hub_config(tmp / "hub.toml", mqtt_port=servers.mqtt_port,
                                  influx_url=servers.influxdb.url, database="milk", client_id="shot",
                                  data_dir=tmp / "hub-data",
                                  extra=f'[web]\nport = {port}\nstatements_dir = "{tmp / "statements"}"\n')
        subprocess.run([sys.executable, "-m", "hub", "payments", "--period", "2026-11-1", "--pricing",
                        str(REPO / "examples" / "pricing.toml"), "--out", str(tmp / "statements" / "2026-11-1"),
                        "--no-pdf", "--quiet", "--config", str(config)], check=True, cwd=REPO)
        subprocess.run([sys.executable, "-m", "hub", "users", "add", "oficial", "--config", str(config)],
                       input="leche-fresca-2026\n", text=True, check=True, cwd=REPO)
        web = subprocess.Popen([sys.executable, "-m", "hub", "web", "--config", str(config)], cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        code = next(d["receipt_code"] for d in written.deliveries if d["accepted"])
        return shoot(url, "oficial", "leche-fresca-2026", "2026-11-1", out, code)
    finally:
        if web is not None:
            web.terminate()
            web.wait(10)
        servers.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.dashboard_shot")
    parser.add_argument("--url")
    parser.add_argument("--user", default="oficial")
    parser.add_argument("--password-file")
    parser.add_argument("--period", default="2026-11-1")
    parser.add_argument("--out", default=str(REPO / "docs" / "dashboard.png"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.url:
        password = Path(args.password_file).read_text().strip() if args.password_file else input()
        taken = shoot(args.url, args.user, password, args.period, out, extra=False)
    else:
        taken = scene(out)
    for path in taken:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
