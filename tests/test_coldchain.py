"""The tank cold-chain state machine, its prediction, and `coldchain replay`."""

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from collector_station.coldchain import (ColdchainSettings, TankMonitor, TankState, fit_cooling,
                                         read_trace, replay, step)

TRACES = Path(__file__).parent / "data" / "traces"
LIMA = timezone(timedelta(hours=-5))
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=LIMA)
S = ColdchainSettings(language="en")


def run_replay(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "collector_station", "coldchain", "replay", *map(str, args)],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def changes_of(trace, *extra):
    lines = run_replay(TRACES / trace, *extra).stdout.splitlines()
    return [json.loads(line) for line in lines]


def seq(changes):
    return [(c["time"][11:16], c["state"]) for c in changes if "state" in c]


def feed(rows, settings=S):
    """rows: (minutes after T0, temp or None, event) -> list of (minutes, state, code)."""
    st, out = TankState("t"), []
    for minute, temp, event in rows:
        t = T0 + timedelta(minutes=minute)
        st, changes, _ = step(st, t, temp, event, settings)
        out += [((c.time - T0).total_seconds() / 60, c.state, c.reason_code) for c in changes]
    return out, st


# -- the recorded traces, through the CLI contract ----------------------------
def test_normal_day():
    got = changes_of("normal_day.csv")
    assert seq(got) == [("06:00", "cooling"), ("07:57", "cold"), ("17:00", "cooling"),
                        ("18:12", "cold"), ("22:00", "empty")]
    for c in got:
        assert set(c) >= {"time", "tank", "state", "reason"} and c["tank"] == "tanque1" and c["reason"]
        assert datetime.fromisoformat(c["time"]).utcoffset() is not None


def test_compressor_failure_warns_long_before_the_break():
    got = changes_of("compressor_failure.csv", "--warnings")
    assert seq(got) == [("06:00", "cooling"), ("07:56", "cold"), ("13:59", "break")]
    warnings = [(c["time"][11:16], c["warning"]) for c in got if "warning" in c]
    assert warnings == [("11:29", "compressor_suspect")]      # failure at 11:00: 2 h 30 min lead


def test_slow_cooling_after_large_warm_intake():
    got = changes_of("slow_cooling.csv", "--warnings")
    assert seq(got) == [("05:00", "cooling"), ("05:00", "cold"), ("06:00", "cooling"),
                        ("08:30", "break"), ("08:54", "cold")]
    brk = [c for c in got if c.get("state") == "break"][0]
    assert brk["reason_code"] == "window_missed"
    warnings = [(c["time"][11:16], c["warning"]) for c in got if "warning" in c]
    assert warnings == [("06:38", "predicted_miss")]          # 1 h 52 min before the break


def test_sensor_dropout_faults_at_two_minutes_and_never_cold_while_silent():
    got = changes_of("sensor_dropout.csv")
    assert seq(got) == [("06:00", "cooling"), ("06:51", "sensor_fault"), ("06:55", "cooling"),
                        ("07:58", "cold"), ("10:01", "sensor_fault"), ("10:10", "cold")]
    rows = {r.time_text[11:16]: r for r in read_trace(TRACES / "sensor_dropout.csv")}
    for c in got:   # every change to cold happens on a row with a valid reading
        if c["state"] == "cold":
            assert rows[c["time"][11:16]].temp_c is not None


def test_station_offline_gap_is_not_a_sensor_fault():
    assert seq(changes_of("station_offline.csv")) == [("06:00", "cooling"), ("07:57", "cold")]


def test_without_warnings_flag_every_line_is_a_state_change():
    assert all("state" in c for c in changes_of("slow_cooling.csv"))


def test_config_thresholds_change_the_replay(tmp_path):
    cfg = tmp_path / "cc.toml"
    cfg.write_text("[coldchain]\ncooling_window_min = 75\nfirst_check_min = 45\n")
    got = changes_of("normal_day.csv", "--config", cfg)
    assert ("07:55", "break") in seq(got)   # 06:40 + 75 min: not yet at 4 °C


# -- bad input: exit 2, one line, no traceback ---------------------------------
@pytest.mark.parametrize("body,needle", [
    ("time,tank,temp_c,event\n2026-11-02T06:00:00,t1,4,\n", "row 2: time"),
    ("time,tank,temp_c,event\n2026-11-02T06:00:00-05:00,t1,abc,\n", "row 2: temp_c"),
    ("time,tank,temp_c,event\n2026-11-02T06:00:00-05:00,t1,4,poured\n", "row 2: event"),
    ("time,tank,temp_c,event\n2026-11-02T06:00:00-05:00,,4,\n", "row 2: tank"),
    ("time,tank,event\n", "temp_c"),
    ("time,tank,temp_c,event\n2026-11-02T06:01:00-05:00,t1,4,\n2026-11-02T06:00:00-05:00,t1,4,\n",
     "row 3: time"),
])
def test_bad_trace_exits_2_with_one_line(tmp_path, body, needle):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    proc = run_replay(path, check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr and "bad.csv" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_missing_file_and_bad_config_exit_2(tmp_path):
    proc = run_replay(tmp_path / "nope.csv", check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr
    cfg = tmp_path / "cc.toml"
    cfg.write_text("[coldchain]\ntarget_cc = 4\n")
    proc = run_replay(TRACES / "normal_day.csv", "--config", cfg, check=False)
    assert proc.returncode == 2 and "target_cc" in proc.stderr and "Traceback" not in proc.stderr


# -- the rules, row by row -----------------------------------------------------
def test_empty_tank_raises_nothing_whatever_the_temperature():
    rows = [(m, 25.0 if m % 7 else None, "") for m in range(0, 600, 1)]
    out, st = feed(rows)
    assert out == [] and st.state == "empty"


def test_sparse_samples_deadline_fires_at_first_sample_after_it():
    # Addition at 06:00; samples only every 25 min: the 1 h check (07:00) is
    # evaluated at the 07:15 sample, with its reading.
    out, _ = feed([(0, 20.0, "milk_added"), (25, 14.0, ""), (50, 12.0, ""), (75, 11.0, "")])
    assert out[-1] == (75.0, "break", "first_check_missed")


def test_first_check_passes_then_window_missed_at_two_hours():
    rows = [(0, 20.0, "milk_added")] + [(m, 4.5 + 15.5 * math.exp(-m / 30), "") for m in range(1, 130)]
    out, _ = feed(rows)
    assert out == [(0.0, "cooling", "milk_added"), (120.0, "break", "window_missed")]


def test_warm_spell_breaks_after_fifteen_minutes_and_recovers_at_target():
    rows = [(0, 20.0, "milk_added"), (30, 3.8, "")]
    rows += [(m, 6.5, "") for m in range(40, 56)] + [(56, 5.0, ""), (57, 4.0, "")]
    out, _ = feed(rows)
    assert out == [(0.0, "cooling", "milk_added"), (30.0, "cold", "target_reached"),
                   (55.0, "break", "warm_too_long"), (57.0, "cold", "back_cold")]


def test_short_warm_spell_is_tolerated():
    rows = [(0, 20.0, "milk_added"), (30, 3.8, "")] + [(m, 6.5, "") for m in range(40, 54)] + [(54, 5.5, "")]
    rows += [(m, 6.5, "") for m in range(55, 69)]
    out, _ = feed(rows)
    assert [o[1] for o in out] == ["cooling", "cold"]


def test_addition_restarts_the_window():
    rows = [(0, 20.0, "milk_added")] + [(m, 12.0, "") for m in range(1, 50)] + [(50, 15.0, "milk_added")]
    rows += [(m, 11.0, "") for m in range(51, 112)]    # 11 °C at 1 h 50 min: fine for the 1st window
    out, _ = feed(rows)
    assert out == [(0.0, "cooling", "milk_added"), (110.0, "break", "first_check_missed")]


def test_silent_sensor_with_milk_is_a_fault_never_cold():
    rows = [(0, 20.0, "milk_added")] + [(m, None, "") for m in range(1, 200)]
    out, st = feed(rows)
    assert out == [(0.0, "cooling", "milk_added"), (2.0, "sensor_fault", "sensor_silent")]
    assert st.state == "sensor_fault"


def test_break_is_latched_through_a_sensor_fault_and_an_addition():
    rows = [(0, 20.0, "milk_added"), (60, 11.0, ""), (61, None, ""), (62, None, ""), (63, None, ""),
            (64, 9.0, ""), (70, 15.0, "milk_added"), (100, 3.9, "")]
    out, _ = feed(rows)
    assert [o[1:] for o in out] == [("cooling", "milk_added"), ("break", "first_check_missed"),
                                    ("sensor_fault", "sensor_silent"), ("break", "sensor_back"),
                                    ("cold", "back_cold")]


def test_emptied_returns_to_empty_and_forgets_the_milk():
    out, st = feed([(0, 20.0, "milk_added"), (10, 15.0, "emptied"), (200, 20.0, "")])
    assert out[-1][1:] == ("empty", "emptied") and st.state == "empty" and not st.has_milk


def test_optional_blend_limit():
    settings = ColdchainSettings(blend_max_c=10.0)
    out, _ = feed([(0, 12.0, "milk_added"), (1, 11.0, "")], settings)
    assert out[-1][1:] == ("break", "blend_too_warm")
    out, _ = feed([(0, 12.0, "milk_added"), (1, 11.0, "")])
    assert out == [(0.0, "cooling", "milk_added")]


def test_fit_recovers_a_known_cooling_curve():
    import math
    pts = [(T0 + timedelta(minutes=m), 3.5 + 18 * math.exp(-m * 60 / 1500)) for m in range(0, 20)]
    fit = fit_cooling(pts, 3.5)
    assert abs(1 / fit.rate_per_s - 1500) < 45
    expected = T0 + timedelta(seconds=1500 * math.log(18 / 0.5))
    assert abs((fit.reaches(4.0) - expected).total_seconds()) < 120


def test_replay_runs_tanks_independently():
    rows = read_trace(TRACES / "normal_day.csv")
    states = [c.state for _, changes, _ in replay(rows, S) for c in changes]
    assert states[0] == "cooling"


# -- the station shell: durable and rebuilt after a restart ---------------------
class FakeOutbox:
    def __init__(self):
        self.messages = []

    def enqueue(self, topic, payload):
        self.messages.append((topic, payload))


def test_monitor_rebuilds_state_after_restart_without_republishing(tmp_path):
    outbox, breaks = FakeOutbox(), []
    kwargs = dict(outbox=outbox, topic=lambda: "milk/v1/c/s/coldchain",
                  envelope={"center": "c", "station": "s"}, intake_tank="t1")
    mon = TankMonitor(tmp_path / "cc.sqlite3", S, ["t1"], on_break=lambda tank, on: breaks.append(on),
                      **kwargs)
    mon.delivery_recorded({"accepted": True, "ts": T0.isoformat(), "id": "d1"})
    mon.delivery_recorded({"accepted": False, "ts": T0.isoformat(), "id": "d2"})
    for m in range(1, 61):
        mon.sample("t1", T0 + timedelta(minutes=m), 12.0)
    assert mon.state("t1") == "break" and breaks == [True]
    published = len(outbox.messages)
    mon.close()
    again = TankMonitor(tmp_path / "cc.sqlite3", S, ["t1"], **kwargs)
    assert again.state("t1") == "break" and len(outbox.messages) == published
    again.sample("t1", T0 + timedelta(minutes=62), 3.9)
    assert again.state("t1") == "cold"
    states = [p["state"] for _, p in outbox.messages if "warning" not in p]
    assert states == ["cooling", "break", "cold"]
    assert all(p["schema"] == "coldchain/1" and p["center"] == "c" for _, p in outbox.messages)


def test_monitor_publishes_warnings_with_kind_eta_and_spanish_reason(tmp_path):
    outbox = FakeOutbox()
    mon = TankMonitor(tmp_path / "cc.sqlite3", ColdchainSettings(), ["tanque1"], outbox=outbox,
                      topic=lambda: "milk/v1/c/s/coldchain", envelope={"center": "c", "station": "s"})
    for row in read_trace(TRACES / "compressor_failure.csv"):
        if row.event:
            getattr(mon, row.event)(row.tank, row.time)
        mon.sample(row.tank, row.time, row.temp_c)
    warnings = [p for _, p in outbox.messages if "warning" in p]
    assert len(warnings) == 1
    w = warnings[0]
    # The hub's alert engine reads warning, eta and reason_code (the warning's kind).
    assert (w["warning"], w["reason_code"], w["state"]) == ("compressor_suspect", "compressor_suspect", "cold")
    assert datetime.fromisoformat(w["eta"]) > datetime.fromisoformat(w["ts"])
    assert w["reason"].startswith("temperatura en alza ") and w["reason"].endswith("revise el compresor")
    changes = [p for _, p in outbox.messages if "warning" not in p]
    assert changes[0]["reason"] == ("se agregó leche a las 06:00: enfriar a ≤10.0 °C hasta las 07:00 "
                                    "y a ≤4.0 °C hasta las 08:00")
    assert "eta" not in changes[0] and changes[-1]["reason_code"] == "warm_too_long"


# -- codes in the core, words at the edge ----------------------------------------
def test_the_machine_gives_codes_and_values_not_text():
    st = TankState("t")
    for minute, temp, event in [(0, 20.0, "milk_added"), (60, 11, "")]:
        st, changes, _ = step(st, T0 + timedelta(minutes=minute), temp, event, S)
    (change,) = changes
    assert not hasattr(change, "reason")
    assert change.reason_code == "first_check_missed"
    assert change.values == {"temp": 11, "limit": 10.0, "deadline": T0 + timedelta(hours=1)}


@pytest.mark.parametrize("lang,text", [
    ("es", "el sensor volvió a leer: 9.0 °C, aún sobre 4.0 °C tras la ruptura"),
    ("en", "sensor reading again: 9.0 °C, still above 4.0 °C after the break"),
])
def test_a_reason_is_worded_by_its_code_and_new_state(lang, text):
    from collector_station.coldchain import Change, word_change
    change = Change(T0, "t", "break", "sensor_fault", "sensor_back", 9, {"temp": 9, "limit": 4.0})
    worded = word_change(change, lang)
    assert worded.reason == text and worded.to_json("x")["reason_code"] == "sensor_back"


def test_coldchain_catalogs_agree_in_both_languages():
    from milk_common.i18n import catalog, check_catalogs
    assert [p for p in check_catalogs() if "coldchain" in p] == []
    assert catalog("coldchain", "es").keys() == catalog("coldchain", "en").keys()
    assert {"milk_added", "sensor_back_cold", "predicted_never", "compressor_suspect"} <= catalog("coldchain", "es").keys()


# -- the defaults, written once ----------------------------------------------------
def test_station_config_chart_and_machine_share_the_defaults():
    import inspect

    from collector_station.coldchain import ColdchainConfig
    from hub.alerts.chart import tank_chart_png
    from milk_common.coldchain_limits import COLDCHAIN_DEFAULTS as D
    assert ColdchainConfig().settings() == ColdchainSettings()
    assert (ColdchainSettings().target_c, ColdchainSettings().cooling_window_s) == (D.target_c, D.cooling_window_s)
    chart_default = inspect.signature(tank_chart_png).parameters["limits_c"].default
    assert chart_default == (D.target_c, D.cold_max_c, D.first_check_max_c)


def test_coldchain_settings_do_not_import_the_station_config():
    code = ("import sys, collector_station.coldchain.settings; "
            "sys.exit('collector_station.config' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent).returncode == 0
