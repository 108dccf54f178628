"""The dashboard's pure parts: period numbers equal the statement's, charts, users, throttle."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.payments.columnar import compute_fortnight_columnar
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing
from hub.payments.records import Delivery
from hub.web import charts
from hub.receipts import normalize_receipt_code
from hub.store.influx import to_ns
from hub.web.summary import format_2dp, milliliters, summarize_rows
from hub.web.users import LoginThrottle, Users, UsersError, session_secret

from devtools.servers import REPO

LIMA = ZoneInfo("America/Lima")
NOV_1 = Period(2026, 11, 1)


def random_deliveries(seed: int, n: int) -> list[Delivery]:
    """As InfluxDB gives them back: litres and TS are floats (some with 3 decimals,
    a few with more, as a CSV import could bring)."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=LIMA)
    out = []
    for i in range(n):
        accepted = rng.random() > 0.07
        liters = rng.choice([round(rng.uniform(1, 60), 2), round(rng.uniform(1, 60), 3),
                             rng.uniform(1, 60) if rng.random() < 0.05 else 10.005])
        out.append(Delivery(
            id=f"d{i}", producer=f"p{rng.randrange(1, 30):03d}",
            ts=start + timedelta(seconds=rng.randrange(15 * 86400)),
            liters=Decimal(repr(liters)),
            solids_pct=Decimal(repr(round(rng.uniform(10, 14), 2))) if accepted else None,
            accepted=accepted, milk_temp_c=Decimal(rng.randrange(30, 250)) / 10,
            center="c1", station=f"s{rng.randrange(1, 4)}"))
    return out


def rows_of(deliveries: list[Delivery]) -> list[dict]:
    return [{"time": to_ns(d.ts), "id": d.id, "liters": float(d.liters),
             "solids_pct": None if d.solids_pct is None else float(d.solids_pct), "accepted": d.accepted,
             "kind": "delivery", "center": d.center, "station": d.station, "producer": d.producer}
            for d in deliveries]


@pytest.mark.parametrize("seed", range(8))
def test_period_totals_equal_the_statement_total(seed):
    deliveries = random_deliveries(seed, random.Random(seed).randrange(1, 2000))
    fortnight = compute_fortnight_columnar(NOV_1, deliveries, load_pricing(REPO / "examples" / "pricing.toml"))
    summary = summarize_rows(rows_of(deliveries), LIMA, date(2026, 11, 3))
    assert summary.total.deliveries == fortnight.total.deliveries
    assert summary.total.rejected == fortnight.total.rejected
    assert summary.total.liters_exact == fortnight.total.liters_exact
    assert format_2dp(summary.total.liters) == f"{fortnight.total.liters:f}"
    for row in fortnight.rows:
        assert summary.by_producer[row.producer].deliveries == row.deliveries
        assert summary.by_producer[row.producer].liters == row.liters
    # Stations and days split the same total.
    assert sum(t.deliveries for t in summary.by_station.values()) == summary.total.deliveries
    assert sum(t.liters_exact for t in summary.by_day.values()) == summary.total.liters_exact


def test_voids_and_corrected_originals_are_left_out():
    ds = random_deliveries(1, 5)
    rows = rows_of(ds)
    rows.append({**rows[0], "id": "v1", "kind": "void"})
    summary = summarize_rows(rows, LIMA, date(2026, 11, 3), superseded={ds[0].id})
    assert summary.total.deliveries == 4


def test_millilitres_are_exact_or_left_to_decimal():
    assert milliliters(24.615) == 24615 and milliliters(10) == 10000 and milliliters(0.1) == 100
    assert milliliters(Decimal("3.25")) == 3250
    assert milliliters(1 / 3) is None and milliliters(1e-05) is None and milliliters(Decimal("1.0005")) is None


def test_today_is_the_local_day():
    # 23:30 in Lima on the 3rd is the 4th in UTC: it counts on the 3rd.
    late = rows_of([Delivery(id="x", producer="p001", ts=datetime(2026, 11, 3, 23, 30, tzinfo=LIMA),
                             liters=Decimal("10.005"), solids_pct=Decimal("12"), accepted=True)])
    summary = summarize_rows(late, LIMA, date(2026, 11, 3))
    assert summary.today.deliveries == 1 and format_2dp(summary.today.liters) == "10.01"
    assert list(summary.by_day) == [date(2026, 11, 3)]
    assert summarize_rows(late, LIMA, date(2026, 11, 4)).today.deliveries == 0
    # A zone whose offset is not whole hours (Kathmandu +5:45).
    kathmandu = ZoneInfo("Asia/Kathmandu")
    rows = rows_of([Delivery(id=str(i), producer="p001", ts=datetime(2026, 11, 3, 23, 50, tzinfo=kathmandu)
                             + timedelta(minutes=20 * i), liters=Decimal(1), solids_pct=Decimal(12),
                             accepted=True) for i in range(2)])
    assert sorted(summarize_rows(rows, kathmandu, date(2026, 11, 3)).by_day) == [date(2026, 11, 3),
                                                                                 date(2026, 11, 4)]


def test_average_solids_weighted_by_litres():
    ds = [Delivery(id=str(i), producer="p001", ts=datetime(2026, 11, 2, 6, i, tzinfo=LIMA), liters=Decimal(l),
                   solids_pct=Decimal(s), accepted=True) for i, (l, s) in enumerate([("30", "12"), ("10", "11")])]
    assert summarize_rows(rows_of(ds), LIMA, date(2026, 11, 2)).total.avg_solids_pct == Decimal("11.75")


def test_charts_are_svg_with_gaps_and_limits():
    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=LIMA)
    samples = [(t0 + timedelta(minutes=5 * i), None if i == 3 else 4.0 + i * 0.1) for i in range(8)]
    svg = charts.time_chart(samples, "tanque", limits=[(4.0, "limit target", "meta"), (10.0, "limit hard", "1 h")])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<line class="limit ') == 2
    path = svg.split('class="line temp" d="')[1].split('"')[0]
    assert path.count("M") == 2          # the missing reading splits the line
    # A long silence splits it too; a lone reading is a dot.
    sparse = samples + [(t0 + timedelta(hours=5), 5.0), (t0 + timedelta(hours=9), 5.5),
                        (t0 + timedelta(hours=9, minutes=5), 5.6)]
    svg = charts.time_chart(sparse, "tanque")
    assert svg.split('class="line temp" d="')[1].split('"')[0].count("M") == 3
    assert svg.count('<circle class="dot temp"') == len(sparse) - 1      # few readings: each a dot
    assert charts.time_chart([(t0, None)], "vacío") == ""
    bars = charts.bar_chart([("1", 10.0), ("2", 0.0)], "litros <&>")
    assert "litros &lt;&amp;&gt;" in bars and bars.count('class="bar"') == 2


def test_receipt_codes_are_normalized_or_refused():
    assert normalize_receipt_code(" a1b2-c3d4 ") == "A1B2-C3D4"
    assert normalize_receipt_code("a1b2c3d4") == "A1B2-C3D4"
    for bad in ("", "A1B2-C3D", "' OR 1=1", "G1B2-C3D4", "A1B2-C3D4-E5"):
        assert normalize_receipt_code(bad) is None


def test_users_hash_and_check(tmp_path):
    users = Users(tmp_path)
    assert users.add("ana", "una clave larga") is True
    assert users.add("ana", "otra clave larga") is False      # a new password
    assert users.check("ana", "otra clave larga")
    assert not users.check("ana", "una clave larga")
    assert not users.check("nadie", "otra clave larga")
    stored = users.path.read_text()
    assert "otra clave" not in stored and "scrypt" in stored
    assert users.path.stat().st_mode & 0o077 == 0
    with pytest.raises(UsersError):
        users.add("a b", "una clave larga")
    with pytest.raises(UsersError):
        users.add("beto", "corta")
    secret = session_secret(tmp_path)
    assert len(secret) >= 32 and session_secret(tmp_path) == secret


def test_throttle_waits_after_repeated_failures():
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, lockout_s=60, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 60 and throttle.wait_s("5.6.7.8") == 0
    now[0] = 59
    assert throttle.wait_s("1.2.3.4") == pytest.approx(1)
    now[0] = 61
    assert throttle.wait_s("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    throttle.succeeded("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 0


def run_hub(*args, stdin=""):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "hub", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, env={"PATH": "/usr/bin:/bin", "LANG": "es_PE.UTF-8"})


def test_users_and_web_commands_say_what_is_wrong_in_one_line(tmp_path):
    import socket
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    short = run_hub("users", "add", "ana", "--config", str(config), stdin="corta\n")
    assert short.returncode == 2 and short.stderr.count("\n") == 1
    assert "al menos 8 caracteres" in short.stderr and "Traceback" not in short.stderr
    empty = run_hub("users", "add", "ana", "--config", str(config), stdin="")
    assert empty.returncode == 2 and "contraseña" in empty.stderr
    ok = run_hub("users", "add", "ana", "--config", str(config), stdin="una clave larga\n")
    assert ok.returncode == 0 and run_hub("users", "list", "--config", str(config)).stdout == "ana\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run_hub("web", "--config", str(config), "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 2 and "no se puede escuchar" in busy.stderr and "Traceback" not in busy.stderr
    bad = run_hub("web", "--config", str(tmp_path / "nada.toml"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_the_ts_line_comes_from_the_pricing_file():
    """The chart's reference TS is the one the configured pricing pays its base price
    for; a scheme without one, or no pricing file, gives the buyers' usual 11.5 %, never
    the sanity checks' `[limits] min_solids_pct`."""
    from decimal import Decimal

    from hub.payments.pricing import pricing_from_dict
    from hub.web.app import solids_reference
    bonus = pricing_from_dict({"price": {"scheme": "solids_bonus", "base_per_liter": "1.03",
                                         "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.02",
                                         "reference_solids_pct": "12.2"}})
    assert solids_reference(bonus) == (Decimal("12.2"), "chart.solids_reference")
    per_kg = pricing_from_dict({"price": {"scheme": "per_kg_solids", "price_per_kg_solids": "9.5"},
                                "limits": {"min_solids_pct": "9"}})
    assert solids_reference(per_kg) == (Decimal("11.5"), "chart.solids_min")
    assert solids_reference(None) == (Decimal("11.5"), "chart.solids_min")
