"""The operator's console, measured: how soon a scale frame shows on screen,
how long the page takes to load, and the station's memory with the console.

    .venv/bin/python bench/console_bench.py [--frames 300] [--interval-ms 100] [--loads 20]

`collector-station run` runs as a real process on simulated instruments
(pseudo-terminals written by this script); Debian's Chromium shows the
console. For each frame the script writes a new weight to the scale's
pseudo-terminal and notes the time; a MutationObserver in the page notes
when the weight element changed to that value. Both clocks are the
machine's wall clock (`performance.timeOrigin + performance.now()` in the
page). Page load is the Navigation Timing `loadEventEnd`. Memory is the
station process's VmRSS (and VmHWM, its peak) after the frames, with the
page connected, beside the same station with `[console] enabled = false`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector_station.instruments.simulate import SimulatedBench
from devtools.browser import chromium
from devtools.servers import free_port

OBSERVER = """() => {
  const el = document.querySelector("[data-testid='weight']");
  window.__seen = [];
  new MutationObserver(() => window.__seen.push([el.textContent, performance.timeOrigin + performance.now()]))
    .observe(el, {childList: true, characterData: true, subtree: true});
}"""


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def start_station(folder: Path, bench: SimulatedBench, console: bool, port: int) -> subprocess.Popen:
    config = folder / ("station.toml" if console else "station-noconsole.toml")
    config.write_text(bench.station_config_text(center="bench", station="b1", mqtt_port=1,
                                                data_dir=str(folder / ("data" if console else "data2")),
                                                stable_window_s=0.3)
                      + f"\n[console]\nenabled = {'true' if console else 'false'}\nport = {port}\n"
                      + "\n[registry]\nrequire_known = false\n")
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""}
    return subprocess.Popen([sys.executable, "-m", "collector_station", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=REPO, env=env)


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the console did not answer at {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--interval-ms", type=float, default=100.0,
                        help="time between scale frames (a 10 Hz indicator by default)")
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        folder = Path(tmp)
        # The instruments are written by hand: one frame at a time, at a known moment.
        # settle_s=0: each can reads steady at once (no swing noise to tell apart).
        bench = SimulatedBench(folder / "bench", tanks=1, seed=1, settle_s=0.0)
        port = free_port()
        station = start_station(folder, bench, True, port)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_http(url)
            with chromium() as browser:
                version = browser.version
                page = browser.new_page(viewport={"width": 800, "height": 480})
                loads = []
                for _ in range(args.loads):
                    page.goto(url, wait_until="load")
                    loads.append(page.evaluate(
                        "performance.getEntriesByType('navigation')[0].loadEventEnd"))
                page.wait_for_timeout(500)           # the event stream is open
                page.evaluate(OBSERVER)
                written: dict[str, float] = {}
                for i in range(args.frames):
                    kg = 10.0 + i * 0.13             # a new value every frame: each one must show
                    bench.scale.place(kg)
                    frame = bench.scale.current_frame()
                    written[f"{kg:.2f}"] = time.time() * 1000
                    bench.scale_port.write(frame)
                    time.sleep(args.interval_ms / 1000)
                page.wait_for_timeout(1000)
                seen = page.evaluate("window.__seen")
                memory = memory_kb(station.pid)
        finally:
            station.terminate()
            station.wait(30)
        shown = {}
        for text, at in seen:
            if text in written and text not in shown:
                shown[text] = at
        lags = [shown[k] - written[k] for k in written if k in shown]
        missed = len(written) - len(lags)

        # The same station without the console, for the memory beside it.
        station = start_station(folder, bench, False, 0)
        try:
            time.sleep(4)
            for i in range(args.frames // 3):
                bench.scale.place(10.0 + i * 0.13)
                bench.scale_port.write(bench.scale.current_frame())
                time.sleep(args.interval_ms / 1000)
            bare = memory_kb(station.pid)
        finally:
            station.terminate()
            station.wait(30)
            bench.stop()

    print(f"console bench: {args.frames} scale frames every {args.interval_ms:.0f} ms, "
          f"{args.loads} page loads, Chromium {version}")
    print(f"weight frame -> DOM: p50 {statistics.median(lags):.1f} ms, p95 {percentile(lags, 95):.1f} ms, "
          f"max {max(lags):.1f} ms, frames not shown {missed}")
    print(f"page load (loadEventEnd): median {statistics.median(loads):.0f} ms, max {max(loads):.0f} ms")
    print(f"station RSS with the console and a page connected: {memory['VmRSS'] / 1024:.1f} MB "
          f"(peak {memory['VmHWM'] / 1024:.1f} MB)")
    print(f"station RSS without the console: {bare['VmRSS'] / 1024:.1f} MB "
          f"(peak {bare['VmHWM'] / 1024:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
