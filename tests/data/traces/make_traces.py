"""Writes the cold-chain test traces (deterministic). Run from the repo root:

    .venv/bin/python tests/data/traces/make_traces.py

A tank of Newton cooling toward the compressor's set point, sampled every
minute; additions blend warm milk by volume; the DS18B20's 1/16 °C steps.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).parent
LIMA = timezone(timedelta(hours=-5))
DAY = datetime(2026, 11, 2, tzinfo=LIMA)


class Tank:
    def __init__(self, temp_c: float = 16.0, setpoint_c: float = 3.5, tau_s: float = 1500.0,
                 ambient_c: float = 16.0) -> None:
        self.temp_c, self.setpoint_c, self.tau_s, self.ambient_c = temp_c, setpoint_c, tau_s, ambient_c
        self.volume_l = 0.0
        self.compressor_ok = True
        self.warm_tau_s = 12 * 3600.0

    def add(self, liters: float, temp_c: float) -> None:
        total = self.volume_l + liters
        self.temp_c = (self.temp_c * self.volume_l + temp_c * liters) / total
        self.volume_l = total

    def empty(self) -> None:
        self.volume_l = 0.0

    def advance(self, seconds: float) -> None:
        if self.volume_l == 0:      # the probe in an empty tank drifts to the room
            self.temp_c += (self.ambient_c - self.temp_c) * (1 - math.exp(-seconds / 1800))
        elif self.compressor_ok:
            self.temp_c = self.setpoint_c + (self.temp_c - self.setpoint_c) * math.exp(-seconds / self.tau_s)
        else:
            self.temp_c += (self.ambient_c - self.temp_c) * (1 - math.exp(-seconds / self.warm_tau_s))


def reading(temp_c: float, rng: random.Random) -> str:
    noisy = temp_c + rng.gauss(0, 0.05)
    return f"{round(noisy * 16) / 16:.4f}".rstrip("0").rstrip(".")


def run(name: str, tank_name: str, start: datetime, minutes: int, script, seed: int = 1) -> None:
    """`script(minute, tank)` returns (event, silent) for that minute, after changing the tank."""
    rng = random.Random(seed)
    tank = Tank()
    rows = []
    for m in range(minutes):
        t = start + timedelta(minutes=m)
        event, silent = script(m, t, tank)
        if silent is None:            # the station is off: no row at all
            tank.advance(60)
            continue
        rows.append([t.isoformat(), tank_name, "" if silent else reading(tank.temp_c, rng), event])
        tank.advance(60)
    with (HERE / name).open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["time", "tank", "temp_c", "event"])
        writer.writerows(rows)


def hm(t: datetime) -> str:
    return t.strftime("%H:%M")


def morning(t: datetime, tank: Tank, times=("06:00", "06:10", "06:20", "06:30", "06:40"),
            liters: float = 60.0, temp_c: float = 24.0) -> str:
    if hm(t) in times:
        tank.add(liters, temp_c)
        return "milk_added"
    return ""


def normal_day(m, t, tank):
    # 05:00 empty (the probe reads the room: no alarm); morning intake 06:00-06:40;
    # evening intake 17:00-17:20 into cold milk; the buyer empties at 22:00.
    if hm(t) == "22:00":
        tank.empty()
        return "emptied", False
    event = morning(t, tank)
    if hm(t) in ("17:00", "17:10", "17:20"):
        tank.add(50, 24.0)
        event = "milk_added"
    # The thermostat cycles around the set point once cold.
    if tank.volume_l and tank.temp_c < 4.2 and tank.compressor_ok:
        tank.temp_c += 0.25 * math.sin(m / 9.0) * 0.1
    return event, False


def compressor_failure(m, t, tank):
    event = morning(t, tank)
    if hm(t) == "11:00":
        tank.compressor_ok = False     # it stops; the milk warms toward the room
    return event, False


def slow_cooling(m, t, tank):
    # 200 L already cold; 600 L at 30 °C between 06:00 and 06:30; a weak compressor.
    if m == 0:
        tank.add(200, 4.0)
        tank.tau_s = 1500.0
        return "milk_added", False
    if hm(t) in ("06:00", "06:05", "06:10", "06:15", "06:20", "06:25", "06:30"):
        tank.add(600 / 7, 30.0)
        tank.tau_s = 45 * 60.0
        return "milk_added", False
    return "", False


def sensor_dropout(m, t, tank):
    event = morning(t, tank)
    silent = ("06:50" <= hm(t) < "06:55"        # during cooling: 5 min -> fault, back to cooling
              or "09:00" <= hm(t) < "09:01"     # 1 min: no fault
              or "10:00" <= hm(t) < "10:10")    # cold: 10 min -> fault, back to cold
    return event, silent


def station_offline(m, t, tank):
    event = morning(t, tank)
    if "10:00" <= hm(t) < "12:00":
        return event, None                       # station off: no rows
    return event, False


if __name__ == "__main__":
    run("normal_day.csv", "tanque1", DAY.replace(hour=5), 18 * 60, normal_day, seed=1)
    run("compressor_failure.csv", "tanque1", DAY.replace(hour=5, minute=50), 9 * 60, compressor_failure, seed=2)
    run("slow_cooling.csv", "tanque1", DAY.replace(hour=5, minute=0), 5 * 60, slow_cooling, seed=3)
    run("sensor_dropout.csv", "tanque1", DAY.replace(hour=5, minute=50), 6 * 60, sensor_dropout, seed=4)
    run("station_offline.csv", "tanque1", DAY.replace(hour=5, minute=50), 8 * 60, station_offline, seed=5)
