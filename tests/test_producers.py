"""The hub's producer registry (merge by default, replace on request, bad rows
refused whole in one Spanish line, phones and URLs never published), advances
as records in the ledger (counted once with the CSV, cancelled not deleted),
and a producer's balance and history."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import wait_until, write_hub_config
from milk_common.mqtt import stop_loop

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "payments"


def hub(*args: str, lang: str | None = "es") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args, *(["--lang", lang] if lang else [])],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f'timezone = "America/Lima"\ndata_dir = "{tmp_path / "data"}"\n'
                    '[influx]\nurl = "http://127.0.0.1:9"\ntimeout_s = 0.5\n', encoding="utf-8")
    return path


def listed(config: Path) -> list[dict]:
    out = hub("producers", "list", "--json", "--config", str(config))
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the registry ----------------------------------------------------------------------
def test_import_merges_by_default_and_replaces_on_request(tmp_path, config):
    first = write(tmp_path / "a.csv", "code,name,phone,notify\n"
                  "P001,Rosa Quispe,+591 71-234-567,json://127.0.0.1:8080/rosa\nP002,Luis Mamani,,\n")
    out = hub("producers", "import", str(first), "--config", str(config))
    assert out.returncode == 0 and "FUSIONADO: 2 nuevos, 0 actualizados, 0 sin cambios; 2 productores" in out.stdout
    # A file without the phone and notify columns keeps what the registry has for them.
    second = write(tmp_path / "b.csv", "code,name\nP001,Rosa Quispe de Mamani\nP003,Ana Condori\n")
    out = hub("producers", "import", str(second), "--config", str(config))
    assert "FUSIONADO: 1 nuevos, 1 actualizados, 0 sin cambios; 3 productores" in out.stdout, out.stdout
    rows = {r["code"]: r for r in listed(config)}
    assert set(rows) == {"P001", "P002", "P003"}
    assert rows["P001"] == {"code": "P001", "name": "Rosa Quispe de Mamani", "active": True,
                            "phone": "+59171234567", "notify": "json://127.0.0.1:8080/rosa"}
    out = hub("producers", "import", str(second), "--replace", "--config", str(config), lang="en")
    assert out.returncode == 0
    assert "REPLACED: 0 new, 0 updated, 2 unchanged, 1 removed; 2 producers" in out.stdout, out.stdout
    assert [r["code"] for r in listed(config)] == ["P001", "P003"]


@pytest.mark.parametrize("body, expected", [
    ("P001,Rosa,,\n,Sin Código,,\n", "fila 3, campo code: falta el código del productor"),
    ("P001,Rosa,,\nP002,Luis,,\nP001,Otra Rosa,,\n", "fila 4, campo code: «P001» ya está en la fila 2"),
    ("P001,Rosa,71234567,\n", "fila 2, campo phone: «71234567» no es un teléfono internacional"),
    ("P001,Rosa,+59171234567,\nP002,Luis,+5917123456789012345,\n", "fila 3, campo phone:"),
    ("P001,Rosa,,foo://bar\n", "fila 2, campo notify: «foo://bar» no es una URL de Apprise válida"),
    ("P001,Rosa,,tgram://not-a-token/chat\n", "fila 2, campo notify:"),
    ("P001,Rosa,,rosa@example.org\n", "fila 2, campo notify:"),
])
def test_bad_registry_row_is_one_spanish_line_and_changes_nothing(tmp_path, config, body, expected):
    good = write(tmp_path / "good.csv", "code,name\nP009,Ya Registrado\n")
    assert hub("producers", "import", str(good), "--config", str(config)).returncode == 0
    before = listed(config)
    bad = write(tmp_path / "bad.csv", "code,name,phone,notify\n" + body)
    for flags in ([], ["--replace"]):
        out = hub("producers", "import", str(bad), *flags, "--config", str(config))
        assert out.returncode == 2 and out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"milk-hub: {bad}: {expected}"), lines
        assert "Traceback" not in out.stderr
    assert listed(config) == before


@pytest.mark.servers
def test_published_registry_leaves_out_phone_and_notify(servers, tmp_path, unique):
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data")
    registry = write(tmp_path / "r.csv", "code,name,lab_fat_pct,lab_date,phone,notify\n"
                     "P001,Rosa,3.8,2026-11-02,+59171234567,json://127.0.0.1:8080/secret-token\n"
                     "P002,Luis,,,+51987654321,\n")
    assert hub("producers", "import", str(registry), "--config", str(config)).returncode == 0
    published = hub("registry", "publish", "--center", unique, "--config", str(config), lang=None)
    assert published.returncode == 0, published.stderr
    got = []
    client = servers.mqtt_client()
    client.on_message = lambda c, u, m: got.append(m.payload)
    client.on_connect = lambda c, *a: c.subscribe(f"milk/v1/{unique}/registry", qos=1)
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    try:
        wait_until(lambda: got, 15, message="the retained registry")
    finally:
        stop_loop(client)
        client.disconnect()
    text = got[0].decode()
    payload = json.loads(text)
    assert payload["schema"] == "registry/1"
    assert [(p["code"], p["name"], p["lab_fat_pct"]) for p in payload["producers"]] == [
        ("P001", "Rosa", "3.8"), ("P002", "Luis", None)]
    for secret in ("phone", "notify", "+5917", "+5198", "secret-token", "json://"):
        assert secret not in text


# -- advances ---------------------------------------------------------------------------
def statements(out: Path) -> dict[str, dict]:
    return {r["producer"]: r for r in csv.DictReader(open(out / "statements.csv", encoding="utf-8"))}


def payments(tmp_path: Path, period: str, ledger: Path, advances: Path | None = None, *extra: str):
    args = ["payments", "--period", period, "--deliveries", str(DATA / "deliveries.csv"), "--pricing",
            str(DATA / "pricing.toml"), "--out", str(tmp_path / period), "--no-pdf", "--quiet",
            "--ledger", str(ledger), *extra]
    if advances:
        args += ["--advances", str(advances)]
    out = hub(*args)
    assert out.returncode == 0, out.stderr
    return statements(tmp_path / period)


def test_advances_add_list_cancel_and_counted_once(tmp_path, config):
    ledger = tmp_path / "ledger.sqlite3"
    added = hub("advances", "add", "p001", "feed", "20.00", "--first-period", "2026-11-1", "--by", "ana",
                "--id", "A1", "--ledger", str(ledger), "--config", str(config))
    assert added.returncode == 0 and added.stdout.startswith("anticipo A1 registrado: p001, 20.00"), added
    again = hub("advances", "add", "p001", "feed", "5", "--first-period", "2026-11-1", "--by", "ana",
                "--id", "A1", "--ledger", str(ledger), "--config", str(config))
    assert again.returncode == 2 and "ya hay un anticipo con el id A1" in again.stderr
    for bad, words in ((["p001", "feed", "10.005"], "monto «10.005»"), (["p001", "feed", "-3"], "monto «-3»"),
                       (["p 1", "feed", "3"], "no es un código de productor")):
        out = hub("advances", "add", *bad, "--first-period", "2026-11-1", "--by", "ana",
                  "--ledger", str(ledger), "--config", str(config))
        assert out.returncode == 2 and words in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    bad_period = hub("advances", "add", "p001", "cash", "3", "--first-period", "2026-13-1", "--by", "ana",
                     "--ledger", str(ledger), "--config", str(config))
    assert bad_period.returncode == 2 and "periodo «2026-13-1»" in bad_period.stderr
    two = hub("advances", "add", "p003", "veterinary", "10.01", "--installments", "2", "--first-period",
              "2026-11-1", "--by", "luis", "--ledger", str(ledger), "--config", str(config))
    assert two.returncode == 0
    two_id = two.stdout.split()[1]
    assert two_id.startswith("adv-")
    listing = [json.loads(line) for line in hub("advances", "list", "--json", "--ledger", str(ledger),
                                                 "--config", str(config)).stdout.splitlines()]
    assert [(a["id"], a["producer"], a["amount"], a["installments"], a["entered_by"]) for a in listing] == [
        ("A1", "p001", "20.00", 1, "ana"), (two_id, "p003", "10.01", 2, "luis")]

    # The CSV lists A1 too (and an advance of its own): A1 is deducted once.
    csv_advances = write(tmp_path / "advances.csv", "producer,kind,amount,installments,first_period,id\n"
                         "p001,feed,20.00,1,2026-11-1,A1\np001,other,1.50,1,2026-11-1,\n")
    rows = payments(tmp_path, "2026-11-1", ledger, csv_advances)
    assert rows["p001"]["deductions"] == "21.50"
    assert rows["p003"]["deductions"] == "5.00"              # first half of 10.01, rounded down
    # A second copy of A1 in the CSV is a mistake named by row.
    dup = write(tmp_path / "dup.csv", "producer,kind,amount,installments,first_period,id\n"
                "p001,feed,20.00,1,2026-11-1,A1\np001,feed,20.00,1,2026-11-1,A1\n")
    out = hub("payments", "--period", "2026-11-1", "--deliveries", str(DATA / "deliveries.csv"), "--pricing",
              str(DATA / "pricing.toml"), "--out", str(tmp_path / "dup"), "--no-pdf", "--advances", str(dup))
    assert out.returncode == 2 and "fila 3, campo id: id 'A1' repetido" in out.stderr

    cancelled = hub("advances", "cancel", "A1", "--by", "luis", "--ledger", str(ledger), "--config", str(config))
    assert cancelled.returncode == 0 and "A1" in cancelled.stdout
    # Cancelled: neither the ledger nor the CSV row with its id counts it.
    assert payments(tmp_path, "2026-11-1", ledger, csv_advances)["p001"]["deductions"] == "1.50"
    twice = hub("advances", "cancel", "A1", "--by", "luis", "--ledger", str(ledger), "--config", str(config))
    assert twice.returncode == 2 and "ya fue anulado" in twice.stderr
    db = sqlite3.connect(ledger)
    with pytest.raises(sqlite3.DatabaseError, match="cancelled"):
        db.execute("UPDATE advance SET amount = '1.00' WHERE id = ?", (two_id,))
    with pytest.raises(sqlite3.DatabaseError, match="never deleted"):
        db.execute("DELETE FROM advance")


def test_second_installment_after_closing_and_the_producer_history(tmp_path, config):
    ledger = tmp_path / "ledger.sqlite3"
    out = hub("advances", "add", "p003", "veterinary", "10.01", "--installments", "2", "--first-period",
              "2026-11-1", "--by", "luis", "--id", "V1", "--ledger", str(ledger), "--config", str(config))
    assert out.returncode == 0
    hub("advances", "add", "p003", "cash", "100.00", "--first-period", "2026-11-2", "--by", "ana",
        "--id", "C1", "--ledger", str(ledger), "--config", str(config))
    first = payments(tmp_path, "2026-11-1", ledger, None, "--close")
    assert first["p003"]["deductions"] == "5.00"
    second = payments(tmp_path, "2026-11-2", ledger)
    # p003 has no milk in 2026-11-2: the second half and the cash advance carry over.
    assert second["p003"]["deductions"] == "0.00" and second["p003"]["carried_over"] == "105.01"

    # The history of these fortnights as of 2026-11-2 (the default is the current period).
    history = hub("producer", "p003", "--ledger", str(ledger), "--config", str(config), "--periods", "3",
                  "--until", "2026-11-2", "--pricing", str(DATA / "pricing.toml"))
    assert history.returncode == 0, history.stderr
    text = history.stdout
    assert text.startswith("Productor p003 — (no está en el registro)")
    closed_line = next(line for line in text.splitlines() if line.startswith("2026-11-1"))
    assert closed_line.split() == ["2026-11-1", "1", "40.25", first["p003"]["gross"], first["p003"]["fees"],
                                   "5.00", "0.00", first["p003"]["net"], "cerrado"]
    assert "V1 veterinario: cuota 1/2 de 5.00 en 2026-11-1 — descontada" in text
    assert "V1 veterinario: cuota 2/2 de 5.01 en 2026-11-2 — pendiente" in text
    assert "C1 efectivo: cuota 1/1 de 100.00 en 2026-11-2 — pendiente" in text
    assert "V1: registrado por luis el " in text
    assert "Saldo que debe: 105.01 PEN" in text

    assert hub("advances", "cancel", "V1", "--by", "ana", "--ledger", str(ledger),
               "--config", str(config)).returncode == 0
    assert payments(tmp_path, "2026-11-2", ledger)["p003"]["carried_over"] == "100.00"
    text = hub("producer", "p003", "--ledger", str(ledger), "--config", str(config), "--periods", "3").stdout
    assert "V1 veterinario: cuota 1/2 de 5.00 en 2026-11-1 — descontada" in text
    assert "V1 veterinario: cuota 2/2 de 5.01 en 2026-11-2 — anulada" in text
    assert "— anulado por ana el " in text and "Saldo que debe: 100.00 (" in text
    english = hub("producer", "p003", "--ledger", str(ledger), "--config", str(config), lang="en")
    assert "Balance owed: 100.00" in english.stdout
    unknown = hub("producer", "p777", "--ledger", str(ledger), "--config", str(config))
    assert unknown.returncode == 2 and "p777" in unknown.stderr
    bad = hub("producer", "p003", "--until", "2026-13-9", "--ledger", str(ledger), "--config", str(config))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "2026-13-9" in bad.stderr


def test_station_import_merges_by_default_too(tmp_path):
    """`collector-station producers import` (a bench without the hub) no longer wipes
    the register silently: merge by default, --replace says how many it removed."""
    example = (REPO / "examples" / "station.toml").read_text(encoding="utf-8")
    config = write(tmp_path / "station.toml",
                   example.replace('data_dir = "/var/lib/milk-station"', f'data_dir = "{tmp_path / "st"}"'))

    def station(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "collector_station", "producers", *args,
                               "--config", str(config)], capture_output=True, text=True, cwd=REPO, timeout=60)

    first = write(tmp_path / "a.csv", "code,name\np001,Rosa\np002,Luis\n")
    second = write(tmp_path / "b.csv", "code,name,phone\np003,Ana,+51 987 654 321\n")
    assert "FUSIONADO: 2 nuevos" in station("import", str(first)).stdout
    out = station("import", str(second))
    assert out.returncode == 0 and "FUSIONADO: 1 nuevos, 0 actualizados, 0 sin cambios; 3 productores" in out.stdout
    assert [line.split("\t")[0] for line in station("list").stdout.splitlines()] == ["p001", "p002", "p003"]
    out = station("import", str(second), "--replace")
    assert "REEMPLAZADO: 0 nuevos, 0 actualizados, 1 sin cambios, 2 quitados; 1 productores" in out.stdout
    bad = write(tmp_path / "c.csv", "code,name,phone\np004,Eva,12\n")
    out = station("import", str(bad))
    assert out.returncode == 2 and "fila 2, campo phone" in out.stderr
    assert [line.split("\t")[0] for line in station("list").stdout.splitlines()] == ["p003"]


@pytest.mark.servers
def test_producer_history_counts_open_periods_from_influxdb(servers, tmp_path, unique):
    from datetime import datetime, timedelta, timezone

    from milk_common.contract import decode_station_message, station_topic
    from milk_common.integrity import GENESIS, seal

    from hub.store.influx import InfluxV1
    from hub.store.points import points

    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data")
    influx = InfluxV1(servers.influxdb.url, unique)
    influx.create_database()
    now = datetime.now(timezone(timedelta(hours=-5))).replace(microsecond=0) - timedelta(minutes=5)
    base = {"schema": "delivery/1", "center": "c1", "station": "s1", "producer": "P001", "weight_kg": 20.6,
            "solids_pct": 12.1, "fat_pct": 3.6, "milk_temp_c": 9.0, "reject_reason": None, "kind": "delivery",
            "refers_to": None, "flags": [], "operator": ""}
    one = seal({**base, "id": "h1", "seq": 1, "ts": now.isoformat(), "liters": 20.0, "accepted": True},
               GENESIS, b"k" * 16)
    two = seal({**base, "id": "h2", "seq": 2, "ts": (now + timedelta(seconds=1)).isoformat(), "liters": 12.5,
                "accepted": True}, one["hash"], b"k" * 16)
    three = seal({**base, "id": "h3", "seq": 3, "ts": (now + timedelta(seconds=2)).isoformat(), "liters": 9.0,
                  "accepted": False, "reject_reason": "acidity_high"}, two["hash"], b"k" * 16)
    topic = station_topic("c1", "s1", "delivery")
    influx.write(line for record in (one, two, three)
                 for line in points(decode_station_message(topic, json.dumps(record).encode())))
    registry = write(tmp_path / "r.csv", "code,name\nP001,Rosa Quispe\n")
    assert hub("producers", "import", str(registry), "--config", str(config)).returncode == 0
    out = hub("producer", "P001", "--config", str(config), "--periods", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[3].split()[0] == "Periodo"        # title, contact, blank, then the header
    rows = [line.split() for line in lines[4:6]]
    # Both periods are open; the deliveries are in the current one (or, a few minutes
    # after a period began, in the one before): 3 deliveries, 32.50 accepted litres.
    assert all(row[-1] == "abierto" for row in rows), out.stdout
    counted = [row[1:3] for row in rows if row[1] != "0"]
    assert counted == [["3", "32.50"]], out.stdout
    assert out.stdout.startswith("Productor P001 — Rosa Quispe (activo)")


def test_merge_advances_counts_each_id_once():
    """The rule `payments --ledger` applies: the ledger's records, the CSV (not an id the
    ledger knows, cancelled or not), and what the last closing knew (by id, else by value)."""
    from decimal import Decimal

    from hub.payments.advances import AdvanceRecord, merge_advances
    from hub.payments.periods import Period
    from hub.payments.records import Advance

    p1 = Period.parse("2026-11-1")

    def adv(ident, amount="10.00", producer="P1"):
        return Advance(producer, "feed", Decimal(amount), 1, p1, ident)

    records = [AdvanceRecord(adv("L1"), "ana", "2026-11-01T08:00:00-05:00"),
               AdvanceRecord(adv("L2"), "ana", "2026-11-01T08:00:00-05:00", cancelled_at="x", cancelled_by="luis")]
    given = [adv("L1"), adv("L2"), adv("C1"), adv(None, "3.00"), adv(None, "3.00")]
    known = [adv("L1"), adv("C1"), adv("K1"), adv("L2"), adv(None, "3.00"), adv(None, "4.00")]
    merged = merge_advances(given, records, known)
    assert sorted((a.id or "-", str(a.amount)) for a in merged) == [
        ("-", "3.00"), ("-", "3.00"), ("-", "4.00"), ("C1", "10.00"), ("K1", "10.00"), ("L1", "10.00")]
