"""The hub's one read side (hub/store/): a delivery counts once by its id everywhere
(dashboard, statements, producer history), and a closed period's statements are its
ledger record's, whatever a later run wrote. Real InfluxDB, points written straight
into it, fixed historical periods."""

from __future__ import annotations

import csv
import os
import random
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import requests

from devtools.fixtures import wait_until, write_hub_config
from devtools.servers import REPO, free_port
from hub.store.columns import first_point_mask
from hub.store.deliveries import DuplicateIds, counted
from hub.store.influx import InfluxV1, line, to_ns
from hub.web.summary import summarize_rows

LIMA = ZoneInfo("America/Lima")
PRICING = REPO / "examples" / "pricing.toml"
PASSWORD = "leche-fresca-2026"


def point(ident: str, producer: str, ts: datetime, liters: float, solids: float = 12.0,
          accepted: bool = True, kind: str = "delivery", center: str = "c1", station: str = "s1") -> str:
    return line("delivery", {"center": center, "station": station, "producer": producer},
                {"id": ident, "seq": 1, "liters": liters, "solids_pct": solids, "accepted": accepted,
                 "milk_temp_c": 9.0, "kind": kind}, to_ns(ts))


def hub(*args: str, env_lang: str = "es_PE.UTF-8") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env={**os.environ, "LANG": env_lang, "LC_ALL": ""})


def statements(folder: Path) -> dict[str, dict]:
    with open(folder / "statements.csv", newline="", encoding="utf-8") as fh:
        return {row["producer"]: row for row in csv.DictReader(fh)}


class Web:
    """`milk-hub web` as a process, and an officer's logged-in session."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        subprocess.run([sys.executable, "-m", "hub", "users", "add", "oficial", "--config", str(config)],
                       input=PASSWORD + "\n", text=True, check=True, cwd=REPO, capture_output=True)
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "hub", "web", "--config", str(config)],
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=REPO)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(self._up, 30, message="milk-hub web did not answer")
        self.session = requests.Session()
        token = re.search(r'name="csrf" value="([^"]+)"', self.session.get(self.url + "/login").text).group(1)
        r = self.session.post(self.url + "/login", data={"csrf": token, "user": "oficial", "password": PASSWORD,
                                                          "next": "/"}, allow_redirects=False)
        assert r.status_code == 303

    def _up(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=1).ok
        except requests.RequestException:
            assert self.proc.poll() is None, self.log.read_text()
            return False

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def by_testid(html: str, name: str) -> str:
    """The text of the element with data-testid `name` (no nested tags in those used here)."""
    match = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', html)
    assert match, f"no {name} on the page"
    return match.group(1).strip()


@pytest.fixture
def site(servers, tmp_path, unique):
    influx = InfluxV1(servers.influxdb.url, unique)
    influx.create_database()
    port = free_port()
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port, influx_url=servers.influxdb.url,
                              database=unique, client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data",
                              extra=f'[web]\nport = {port}\nstatements_dir = "{tmp_path / "statements"}"\n'
                                    f'[payments]\nledger = "{tmp_path / "ledger.sqlite3"}"\n'
                                    f'pricing = "{tmp_path / "pricing.toml"}"\n')
    # The association's pricing, with a reference TS of its own: the dashboard's TS line.
    (tmp_path / "pricing.toml").write_text(
        PRICING.read_text(encoding="utf-8").replace('reference_solids_pct = "11.5"', 'reference_solids_pct = "12.0"'),
        encoding="utf-8")
    web = []

    def start_web() -> Web:
        web.append(Web(config, port, tmp_path / "web.log"))
        return web[-1]

    yield dict(influx=influx, config=config, tmp=tmp_path, start_web=start_web,
               pricing=tmp_path / "pricing.toml", ledger=tmp_path / "ledger.sqlite3")
    for w in web:
        w.stop()
    influx.drop_database()


@pytest.mark.servers
def test_two_points_of_one_id_count_once_everywhere(site):
    influx, config, tmp = site["influx"], site["config"], site["tmp"]
    day = lambda d, h=6, m=0: datetime(2026, 11, d, h, m, tzinfo=LIMA)  # noqa: E731
    influx.write([
        point("c1-s1-1", "p001", day(3), 20.5),
        point("c1-s1-1", "p001", day(3, 6, 1), 20.5),           # the same delivery stored again
        point("c1-s1-2", "p002", day(4), 15.25),
        point("c1-s1-2", "p001", day(5), 30.0, solids=11.0),     # another record under a reused id
        point("c1-s1-3", "p001", day(6), 10.0),
        point("c1-s1-4", "p003", day(7), 8.0, accepted=False),
    ])
    # What counts: c1-s1-1 (p001 20.50), c1-s1-2 (p002 15.25), c1-s1-3 (p001 10.00), c1-s1-4 (p003, rejected).

    # The statements, per delivery and as columns (--csv-only), read from InfluxDB.
    for how, extra in (("records", ["--no-pdf"]), ("columns", ["--csv-only"])):
        out = tmp / how
        run = hub("payments", "--period", "2026-11-1", "--pricing", str(PRICING), "--out", str(out),
                  "--config", str(config), "--quiet", *extra)
        assert run.returncode == 0, run.stderr
        rows = statements(out)
        assert (rows["TOTAL"]["deliveries"], rows["TOTAL"]["liters"]) == ("4", "45.75"), how
        assert (rows["p001"]["deliveries"], rows["p001"]["liters"]) == ("2", "30.50"), how
        assert (rows["p002"]["deliveries"], rows["p002"]["liters"]) == ("1", "15.25"), how
        # Reported, naming the ids: one line on standard error.
        warning = [x for x in run.stderr.splitlines() if "c1-s1-1" in x]
        assert len(warning) == 1 and "c1-s1-2" in warning[0] and "2 punto(s)" in warning[0], run.stderr
    assert (tmp / "records" / "statements.csv").read_bytes() == (tmp / "columns" / "statements.csv").read_bytes()
    lines = list(csv.DictReader((tmp / "records" / "lines.csv").open(encoding="utf-8")))
    assert sorted(r["id"] for r in lines) == ["c1-s1-1", "c1-s1-2", "c1-s1-3", "c1-s1-4"]

    # The producer's history (an open period: counted from InfluxDB).
    for code, expected in (("p001", ["2", "30.50"]), ("p002", ["1", "15.25"])):
        history = hub("producer", code, "--config", str(config), "--until", "2026-11-1", "--periods", "1")
        assert history.returncode == 0, history.stderr
        row = next(x.split() for x in history.stdout.splitlines() if x.startswith("2026-11-1"))
        assert row[1:3] == expected, history.stdout
    assert "c1-s1-2" in hub("producer", "p001", "--config", str(config), "--until", "2026-11-1",
                            "--periods", "1").stderr

    # The dashboard: the period's figures, a producer's, and how many points were left out.
    web = site["start_web"]()
    page = web.get("/?period=2026-11-1")
    assert page.status_code == 200, page.text
    html = page.text
    assert by_testid(html, "period-deliveries") == "4" and by_testid(html, "period-liters") == "45.75"
    assert by_testid(html, "period-rejected") == "1"
    p001 = re.search(r'data-testid="producer-p001">(.*?)</tr>', html, re.S).group(1)
    assert [c for c in re.findall(r'<td class="n">([^<]*)</td>', p001)][2:5] == ["2", "0", "30.50"]
    assert 'data-testid="duplicate-ids" data-points="2"' in html and "c1-s1-1, c1-s1-2" in html
    # The TS line is the pricing file's reference (12.0 here), not a number written in the code.
    assert "ST de referencia de la tarifa 12 %" in html


@pytest.mark.servers
def test_a_closed_period_is_served_from_its_record(site):
    influx, config, tmp, ledger = site["influx"], site["config"], site["tmp"], site["ledger"]
    influx.write([point("n1", "p001", datetime(2026, 11, 3, 6, 0, tzinfo=LIMA), 100.0, solids=11.5),
                  point("n2", "p001", datetime(2026, 11, 17, 6, 0, tzinfo=LIMA), 50.0, solids=11.5),
                  point("n3", "p002", datetime(2026, 11, 18, 6, 0, tzinfo=LIMA), 40.0, solids=12.5)])
    advances = tmp / "advances.csv"
    advances.write_text("producer,kind,amount,installments,first_period,id\np001,feed,150.24,2,2026-11-1,F1\n")
    folder = tmp / "statements" / "2026-11-1"
    common = ["--pricing", str(site["pricing"]), "--config", str(config), "--quiet", "--no-pdf"]
    closing = hub("payments", "--period", "2026-11-1", "--out", str(folder), "--advances", str(advances),
                  "--ledger", str(ledger), "--close", *common)
    assert closing.returncode == 0, closing.stderr
    closed_text = (folder / "statements" / "p001.txt").read_bytes()
    net = statements(folder)["p001"]["net"]
    assert statements(folder)["p001"]["deductions"] == "75.12"
    # A later dry run (no advances, no ledger) writes other statements into the same folder.
    dry = hub("payments", "--period", "2026-11-1", "--out", str(folder), *common)
    assert dry.returncode == 0, dry.stderr
    assert statements(folder)["p001"]["deductions"] == "0.00"
    assert (folder / "statements" / "p001.txt").read_bytes() != closed_text

    web = site["start_web"]()
    page = web.get("/?period=2026-11-1")
    assert page.status_code == 200 and 'data-source="closed"' in page.text
    assert 'href="/statements/2026-11-1/p001.txt"' in page.text
    served = web.get("/statements/2026-11-1/p001.txt")
    assert served.status_code == 200 and served.content == closed_text
    assert f"{net}" in served.text and "75.12" in served.text
    assert web.get("/statements/2026-11-1/p009.txt").status_code == 404

    # A reprint takes them from the record too.
    reprint = hub("payments", "--period", "2026-11-1", "--out", str(tmp / "reprint"), "--ledger", str(ledger),
                  *common)
    assert reprint.returncode == 0, reprint.stderr
    assert (tmp / "reprint" / "statements" / "p001.txt").read_bytes() == closed_text

    # The open period after it is computed when asked, as `milk-hub payments --ledger` computes it
    # (the advance's second installment from the ledger), not read from any folder.
    page = web.get("/?period=2026-11-2")
    assert 'data-source="fresh"' in page.text and 'href="/statements/2026-11-2/p001.txt"' in page.text
    fresh = web.get("/statements/2026-11-2/p001.txt")
    assert fresh.status_code == 200, fresh.text
    computed = hub("payments", "--period", "2026-11-2", "--out", str(tmp / "nov2"), "--ledger", str(ledger),
                   *common)
    assert computed.returncode == 0, computed.stderr
    assert fresh.content == (tmp / "nov2" / "statements" / "p001.txt").read_bytes()
    assert "75.12" in fresh.text
    english = web.get("/statements/2026-11-2/p002.txt?lang=en")
    assert english.status_code == 200 and "FORTNIGHT STATEMENT" in english.text


def test_the_rule_counts_each_id_once_first_by_time():
    rows = [{"time": 1, "id": "a", "kind": "delivery"}, {"time": 2, "id": "v", "kind": "void"},
            {"time": 3, "id": "a", "kind": "delivery"}, {"time": 4, "id": "b", "kind": "delivery"},
            {"time": 5, "id": "v", "kind": "delivery"},    # reuses the void's id: a known id
            {"time": 6, "id": "c", "kind": "delivery"}, {"time": 7, "id": "c", "kind": "correction"}]
    duplicates = DuplicateIds()
    assert [r["time"] for r in counted(rows, {"b"}, duplicates)] == [1, 6]
    assert duplicates.extra == {"a": 1, "v": 1, "c": 1} and duplicates.points == 3
    assert duplicates.words("2026-11-1", "es").startswith("aviso: 2026-11-1: 3 punto(s)")
    assert "a, c, v" in duplicates.words("2026-11-1", "es") and "not counted" in duplicates.words("2026-11-1", "en")
    # The dashboard's tally counts by it too, and says how many points it left out.
    tally_rows = [{"time": to_ns(datetime(2026, 11, 3, 6, i, tzinfo=LIMA)), "id": ident, "liters": 10.0,
                   "solids_pct": 12.0, "accepted": True, "center": "c1", "station": "s1", "producer": "p1"}
                  for i, ident in enumerate(["x", "y", "x"])]
    summary = summarize_rows(tally_rows, LIMA, date(2026, 11, 3))
    assert summary.total.deliveries == 2 and str(summary.total.liters) == "20.00"
    assert summary.duplicates.extra == {"x": 1}


@pytest.mark.parametrize("seed", range(20))
def test_the_columns_keep_the_points_the_rule_keeps(seed):
    """`hub.store.columns` applies the rule to columns: the same points kept, the same reported."""
    rng = random.Random(seed)
    n = rng.randrange(1, 200)
    rows = [{"time": t, "id": f"d{rng.randrange(n)}",
             "kind": rng.choice(["delivery"] * 8 + ["void", "correction"])} for t in sorted(rng.sample(range(10**6), n))]
    superseded = {f"d{rng.randrange(n)}" for _ in range(rng.randrange(3))}
    expected = DuplicateIds()
    kept = [r["time"] for r in counted(rows, superseded, expected)]
    # As `period_columns` holds them: what does not count dropped at once, its ids kept aside.
    counts = [r["kind"] != "void" and r["id"] not in superseded for r in rows]
    ids = np.array([r["id"].encode() for r, c in zip(rows, counts) if c], dtype="S")
    ns = np.array([r["time"] for r, c in zip(rows, counts) if c], dtype=np.int64)
    other_ids = np.array([r["id"].encode() for r, c in zip(rows, counts) if not c], dtype="S")
    other_ns = np.array([r["time"] for r, c in zip(rows, counts) if not c], dtype=np.int64)
    found = DuplicateIds()
    mask = first_point_mask(ids, ns, other_ids, other_ns, found)
    assert list(ns if mask is None else ns[mask]) == kept
    assert found.extra == expected.extra
