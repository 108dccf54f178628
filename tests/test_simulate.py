"""`collector-station simulate` for every instrument: the written config loads
and the station's own drivers read the virtual devices it serves."""

import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.devices import Densimeter, Scale, tank_probes

from .conftest import wait_until


@pytest.mark.parametrize("scale_fmt, analyzer_fmt", [("sics", "lactoscan"), ("bridge", "ekomilk"),
                                                     ("toledo", "bridge"), ("simple", "lactoscan")])
def test_simulate_command_serves_readable_devices(tmp_path, scale_fmt, analyzer_fmt):
    config_path = tmp_path / "station.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector_station", "simulate", "--dir", str(tmp_path / "sim"),
         "--write-config", str(config_path), "--scale-format", scale_fmt,
         "--analyzer-format", analyzer_fmt, "--interval-s", "1", "--seed", "4", "--tanks", "2",
         "--probes-per-tank", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: config_path.exists() and "[thermometers.tanks]" in config_path.read_text(),
                   10, 0.05, "config written")
        config = load_station_config(config_path)
        assert config.scale.format == scale_fmt and config.densimeter.format == analyzer_fmt
        scale = Scale.from_config(config.scale)
        densimeter = Densimeter.from_config(config.densimeter)
        scale.instrument.start()
        densimeter.instrument.start()
        try:
            wait_until(lambda: scale.stable_kg is not None and scale.stable_kg > Decimal(5), 15, 0.02,
                       "a can weighed")
            wait_until(lambda: densimeter.latest is not None, 15, 0.05, "a sample analysed")
            assert Decimal("1.02") < densimeter.latest.analysis.density_g_ml < Decimal("1.04")
        finally:
            scale.instrument.stop()
            densimeter.instrument.stop()
        probes = tank_probes(config.thermometers)
        assert set(probes) == {"tank1", "tank2"} and len(probes["tank1"].probes) == 2
        assert 0 < probes["tank1"].read_c() < 40
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
