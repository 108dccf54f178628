"""Calibrating the HX711 bridge scale against the simulated one: the
arithmetic and tolerance (pure), then `collector-station calibrate` as a
technician runs it (real process, a real pseudo-terminal, known weights put
on when asked), and the station weighing with what was saved."""

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector_station.config import load_station_config
from collector_station.instruments import calibration as cal
from collector_station.instruments.protocols.bridge import SIM_COUNTS_PER_KG, SIM_OFFSET_COUNTS
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station

from .conftest import wait_until

D = Decimal
LIMA = ZoneInfo("America/Lima")
NOW = datetime(2026, 11, 20, 7, 0, tzinfo=LIMA)
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("load_kg, e, klass, service, expected", [
    ("5", "0.01", "III", False, "0.005"),     # 500 e: 0.5 e
    ("5.01", "0.01", "III", False, "0.01"),   # just above 500 e: 1 e
    ("20", "0.01", "III", False, "0.01"),     # 2000 e
    ("30", "0.01", "III", False, "0.015"),    # 3000 e: 1.5 e
    ("30", "0.01", "III", True, "0.030"),     # in service: twice
    ("60", "0.02", "IIII", False, "0.03"),    # 3000 e past the class's table: 1.5 e
    ("20", "0.001", "II", False, "0.001"),      # 20000 e in class II: 1 e
    ("2", "0.001", "II", False, "0.0005"),
])
def test_mpe_follows_the_oiml_table(load_kg, e, klass, service, expected):
    assert cal.mpe_kg(D(load_kg), D(e), klass, in_service=service) == D(expected)


def sim_counts(kg):
    return SIM_OFFSET_COUNTS + round(kg * SIM_COUNTS_PER_KG)


def test_two_points_and_a_check_give_the_scale_back():
    result = cal.calibrate(sim_counts(0), sim_counts(10), D("10"), sim_counts(20), D("20"),
                           interval_kg=D("0.01"), now=NOW)
    assert result.counts_per_kg == D(SIM_COUNTS_PER_KG) and result.offset_counts == SIM_OFFSET_COUNTS
    assert result.second_read_kg == D("20") and result.error_kg == 0
    assert result.load_cell().kg(sim_counts(15.37)) == D("15.37")
    assert cal.Calibration.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_a_second_point_off_the_line_is_refused():
    # The "20 kg" weight is really 19.9 kg (or the cell bends): 0.1 kg off, tolerance 0.01.
    with pytest.raises(cal.CalibrationRefused) as refused:
        cal.calibrate(sim_counts(0), sim_counts(10), D("10"), sim_counts(19.9), D("20"),
                      interval_kg=D("0.01"), now=NOW)
    assert refused.value.read_kg == D("19.9") and refused.value.tolerance_kg == D("0.01")


@pytest.mark.parametrize("points", [
    (100, 100, "10", 200, "20"),      # the first weight changed nothing
    (100, 500, "0", 900, "20"),       # no mass
    (100, 500, "10", 900, "10"),      # the same weight twice checks no linearity
])
def test_points_that_make_no_calibration(points):
    empty, first, first_kg, second, second_kg = points
    with pytest.raises(cal.CalibrationError):
        cal.calibrate(empty, first, D(first_kg), second, D(second_kg), interval_kg=D("0.01"), now=NOW)


def test_session_steps_and_steady_window():
    session = cal.CalibrationSession(D("10"), D("20"), interval_kg=D("0.01"), clock=lambda: NOW)
    assert session.step == "empty" and session.weight_kg is None
    assert session.record(sim_counts(0)) == "first" and session.weight_kg == D("10")
    assert session.record(sim_counts(10)) == "second"
    assert session.record(sim_counts(20)) == "done" and session.result.counts_per_kg == 21000
    window = cal.SteadyWindow(size=3, max_spread_counts=50)
    assert [window.add(x) for x in (0, 1000, 1010, 1020, 1030)] == [None, None, None, 1010, 1020]


def test_check_due_after_a_week():
    assert cal.check_due(None, NOW)
    assert not cal.check_due((NOW - timedelta(days=6, hours=23)).isoformat(), NOW)
    assert cal.check_due((NOW - timedelta(days=7, minutes=1)).isoformat(), NOW)


def test_saved_atomically_with_a_log_line(tmp_path):
    result = cal.calibrate(sim_counts(0), sim_counts(10), D("10"), sim_counts(20), D("20"),
                           interval_kg=D("0.01"), now=NOW)
    cal.save_calibration(tmp_path, result)
    assert cal.load_calibration(tmp_path) == result
    assert cal.last_checked_at(tmp_path) == result.calibrated_at
    assert not list(tmp_path.glob(".*.tmp"))
    log = [json.loads(line) for line in (tmp_path / cal.LOG_FILE).read_text().splitlines()]
    assert [entry["event"] for entry in log] == ["calibrated"]
    (tmp_path / cal.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(cal.CalibrationError):
        cal.load_calibration(tmp_path)


# -- the command against the simulated bridge scale -------------------------------
@pytest.fixture
def bridge(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", seed=9, frame_interval_s=0.02, settle_s=0.2,
                           scale_format="bridge").start()
    path = tmp_path / "station.toml"
    text = bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                     data_dir=str(tmp_path / "data"), stable_window_s=0.2)
    # The config's calibration is wrong (a new load cell): only `calibrate` can set it right.
    text = text.replace(f"counts_per_kg = {SIM_COUNTS_PER_KG}", "counts_per_kg = 18000")
    text = text.replace(f"offset_counts = {SIM_OFFSET_COUNTS}", "offset_counts = 0")
    path.write_text(text + '\n[registry]\nrequire_known = false\n')
    yield bench, path
    bench.stop()


class Technician:
    """Runs `calibrate`, putting on the platform what each prompt asks for."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector_station", "calibrate", "--config", str(config), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.out: list[str] = []
        threading.Thread(target=lambda: [self.out.append(x) for x in self.proc.stdout], daemon=True).start()

    def answer(self, words: str, action) -> None:
        wait_until(lambda: any(words in line for line in self.out), 20, 0.02, f"{words!r}: {self.out}")
        action()
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(60)
        return code, self.proc.stderr.read()


def test_calibrate_command_then_the_station_weighs_right(bridge, tmp_path):
    bench, path = bridge
    scale = bench.scale
    config = load_station_config(path)
    tech = Technician(path, "--first-kg", "10", "--second-kg", "20")
    tech.answer("Vacíe la plataforma", scale.remove)
    tech.answer("Ponga la pesa de 10 kg", lambda: scale.place(10.0))
    tech.answer("Ponga la pesa de 20 kg", lambda: scale.place(20.0))
    code, err = tech.finish()
    assert code == 0, (err, tech.out)
    assert any("Calibración guardada" in line for line in tech.out)
    saved = cal.load_calibration(config.data_dir)
    assert abs(saved.counts_per_kg - SIM_COUNTS_PER_KG) < 5
    assert abs(saved.offset_counts - SIM_OFFSET_COUNTS) < 40
    assert "counts_per_kg = 18000" in path.read_text()           # the config is never rewritten
    log = (Path(config.data_dir) / cal.LOG_FILE).read_text()
    assert '"event": "calibrated"' in log

    # The station weighs with the saved calibration: a 15.37 kg can reads 15.37.
    shown = []
    station = Station(config, display=shown.append, printer=lambda t: None).start()
    try:
        assert station.scale_calibration == saved
        scale.place(15.37)
        wait_until(lambda: station.scale.stable_kg is not None, 10, 0.02)
        assert station.scale.stable_kg == D("15.37")
        # What a technician screen reads for a calibration step: steady raw counts.
        counts = station.steady_scale_counts(10)
        assert counts is not None and abs(counts - sim_counts(15.37)) < 40
        assert not station.scale_check_status()["check_due"]   # a calibration is a check
        assert not any("Verificación semanal pendiente" in m for m in shown)
    finally:
        station.stop()

    # The weekly check with the test weight passes, and is logged.
    tech = Technician(path, "--check", "--test-kg", "20")
    tech.answer("Ponga la pesa de 20 kg", lambda: scale.place(20.0))
    code, err = tech.finish()
    assert code == 0, err
    assert any("Verificación correcta" in line for line in tech.out)
    assert '"event": "check_passed"' in (Path(config.data_dir) / cal.LOG_FILE).read_text()


def test_a_bad_second_point_is_refused_and_nothing_saved(bridge):
    bench, path = bridge
    scale = bench.scale
    config = load_station_config(path)
    tech = Technician(path, "--first-kg", "10", "--second-kg", "20")
    tech.answer("Vacíe la plataforma", scale.remove)
    tech.answer("Ponga la pesa de 10 kg", lambda: scale.place(10.0))
    tech.answer("Ponga la pesa de 20 kg", lambda: scale.place(19.5))   # not the 20 kg it claims
    code, err = tech.finish()
    assert code == 1 and "Calibración rechazada" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert cal.load_calibration(config.data_dir) is None
    assert '"event": "refused"' in (Path(config.data_dir) / cal.LOG_FILE).read_text()


def test_station_says_the_weekly_check_is_due(bridge, tmp_path):
    bench, path = bridge
    config = load_station_config(path)
    data = Path(config.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    (data / cal.CHECK_FILE).write_text(json.dumps(
        {"checked_at": (datetime.now(LIMA) - timedelta(days=8)).isoformat(), "ok": True}))
    shown = []
    station = Station(config, display=shown.append, printer=lambda t: None).start()
    try:
        assert station.scale_check_status()["check_due"]
        assert any("Verificación semanal pendiente" in m for m in shown)
        assert station.scale_calibration is None         # nothing saved: the config's values
    finally:
        station.stop()


def test_calibrate_refuses_an_indicator_scale_and_bad_masses(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", seed=1, scale_format="ad")
    try:
        path = tmp_path / "station.toml"
        path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                                  data_dir=str(tmp_path / "data")))
        run = subprocess.run([sys.executable, "-m", "collector_station", "calibrate", "--config",
                              str(path), "--first-kg", "10", "--second-kg", "20"],
                             capture_output=True, text=True, cwd=REPO, timeout=60)
        assert run.returncode == 2 and "se calibra en su propio indicador" in run.stderr
    finally:
        bench.stop()


@pytest.mark.parametrize("args, typed, words", [
    ([], "diez\n", "no es una masa válida"),                      # asked, and mistyped
    (["--first-kg", "0", "--second-kg", "20"], "", "no es una masa válida"),
    (["--first-kg", "10", "--second-kg", "10"], "", "debe ser distinta"),
    (["--first-kg", "10", "--second-kg", "20"], "", "Calibración interrumpida"),   # no Enter comes
])
def test_calibrate_bad_input_is_one_line_and_saves_nothing(bridge, args, typed, words):
    bench, path = bridge
    run = subprocess.run([sys.executable, "-m", "collector_station", "calibrate", "--config",
                          str(path), *args], input=typed, capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 2 and words in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert cal.load_calibration(load_station_config(path).data_dir) is None


def test_weekly_check_of_an_indicator_scale_fails_on_a_wrong_reading(tmp_path):
    """Any scale is checked, not only the bridge: an A&D indicator reading
    19.8 kg for the 20 kg test weight fails (class III, e = 0.05 kg: 20 kg is
    400 e, MPE in service 2 x 0.5 e = 0.05 kg)."""
    bench = SimulatedBench(tmp_path / "bench", seed=3, frame_interval_s=0.02, settle_s=0.2,
                           scale_format="ad").start()
    try:
        path = tmp_path / "station.toml"
        text = bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                         data_dir=str(tmp_path / "data"), stable_window_s=0.2)
        path.write_text(text.replace("[densimeter]", 'verification_interval_kg = "0.05"\n\n[densimeter]'))
        config = load_station_config(path)
        tech = Technician(path, "--check", "--test-kg", "20")
        tech.answer("Ponga la pesa de 20 kg", lambda: bench.scale.place(19.8))
        code, err = tech.finish()
        assert code == 1 and "Verificación fallida" in err and "19.8" in err, err
        assert cal.last_checked_at(config.data_dir) is None      # the reminder stays
        log = (Path(config.data_dir) / cal.LOG_FILE).read_text()
        assert '"event": "check_failed"' in log
    finally:
        bench.stop()
