"""The console's main screens at 800x480, for docs/console-*.png.

    .venv/bin/python -m devtools.console_shots [--out docs]

A station on simulated instruments (no broker: the link shows offline, as a
bench far from any network), Debian's Chromium, and the steps of a
morning: the ready screen, a can whose values wait for ACCEPT, new values
replacing them, the accepted delivery with its code, the reject reasons,
a void behind the supervisor's PIN, the shift and the instruments, and a
tank whose cold chain broke.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from collector_station.config import load_station_config
from collector_station.console.server import ConsoleServer
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station
from collector_station.supervisor import store_pin
from devtools.browser import chromium
from devtools.fixtures import wait_until

PRODUCERS = "code,name\np001,Rosa Quispe\np002,Juan Mamani\np012,Teodora Huamán Ccori\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.console_shots")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="console-shots-"))
    bench = SimulatedBench(tmp / "bench", tanks=2, seed=3, frame_interval_s=0.05, settle_s=0.2).start()
    path = tmp / "station.toml"
    path.write_text(bench.station_config_text(center="centro1", station="banco1", mqtt_port=1,
                                              data_dir=str(tmp / "data"), stable_window_s=0.2)
                    + '\n[coldchain]\nblend_max_c = 10.0\n')
    config = load_station_config(path)
    config = config.model_copy(update={
        "thermometers": config.thermometers.model_copy(update={"interval_s": 0.5})})
    (tmp / "producers.csv").write_text(PRODUCERS)
    station = Station(config, display=lambda line: None, printer=lambda text: None)
    station.registry.import_csv(tmp / "producers.csv")
    store_pin(config.data_dir, "2468")
    station.start()
    assert station.wait_ready()
    console = ConsoleServer(station, "127.0.0.1", 0).start()
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 800, "height": 480})
            page.goto(console.url)
            tid = page.get_by_test_id

            def shot(name: str) -> None:
                page.wait_for_timeout(400)
                page.screenshot(path=str(out / f"console-{name}.png"))
                print(out / f"console-{name}.png")

            shot("ready")
            for key in "12":
                tid(f"pad-{key}").click()
            tid("pad-ok").click()
            tid("alcohol-pass").click()
            bench.scale.place(20.62)
            time.sleep(0.6)
            bench.densimeter.measure(1.031, 15.0)
            wait_until(lambda: station.confirmation is not None, 10, 0.05)
            shot("confirm")
            bench.densimeter.measure(1.0265, 17.5)       # a second reading: new values, visibly
            wait_until(lambda: station.confirmation and station.confirmation["replaced"], 10, 0.05)
            shot("replaced")
            tid("accept").click()
            page.wait_for_function("() => document.getElementById('result').dataset.state === 'accepted'")
            shot("accepted")
            bench.scale.remove()
            wait_until(lambda: station.scale.state == "empty", 10, 0.05)
            tid("producer-input").fill("p002")
            tid("producer-input").press("Enter")
            tid("alcohol-pass").click()
            bench.scale.place(14.3)
            time.sleep(0.6)
            bench.densimeter.measure(1.030, 16.0)
            wait_until(lambda: station.confirmation is not None, 10, 0.05)
            tid("reject").click()
            shot("reject")
            tid("reject-reason-operator_reject").click()
            bench.scale.remove()
            tid("open-deliveries").click()
            tid("delivery-1").click()
            tid("void").click()
            tid("reason").fill("error de digitación")
            shot("void")
            page.locator("[data-close='deliveries-panel']").click()
            tid("open-shift").click()
            shot("shift")
            page.locator("[data-close='shift-panel']").click()
            tank = bench.tanks["tank2"]
            tank.temp_c = 14.0
            tank.write()
            station.tank_event("tank2", emptied=False)
            wait_until(lambda: station.coldchain.states["tank2"].state == "break", 10, 0.05)
            page.wait_for_function("() => document.querySelector(\"[data-testid='tank-tank2']\")"
                                   ".dataset.state === 'break'")
            shot("tank-break")
    finally:
        console.stop()
        station.stop()
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
