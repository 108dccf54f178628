"""The contract between station and hub: what the station builds, the hub accepts;
topics round-trip; every text exists in both languages with the same placeholders."""

from __future__ import annotations

import json

import pytest

from milk_common import contract
from milk_common.contract import (HUB_SUBSCRIPTIONS, ColdchainV1, InvalidPayload, RegistryV1,
                                  StatusV1, decode, decode_station_message, parse_station_topic,
                                  station_topic)
from milk_common.contract.registry import RegistryError, parse_registry_rows, registry_message_rows
from milk_common.i18n import MissingText, check_catalogs, normalize_language, translate
from milk_common.integrity import seal

KEY = b"k" * 32


def _roundtrip(topic: str, payload: dict):
    return decode_station_message(topic, json.dumps(payload).encode())


def test_every_station_builder_is_accepted_by_the_hub():
    status = contract.status_payload("c1", "s1", "online", {"scale": "connected"})
    assert isinstance(_roundtrip(station_topic("c1", "s1", "status"), status), StatusV1)
    tank = contract.tank_payload("c1", "s1", "t1", [{"ts": "2026-11-01T06:00:00.000-05:00", "temp_c": 4.1},
                                                    {"ts": "2026-11-01T06:01:00.000-05:00", "temp_c": None}])
    assert len(_roundtrip(station_topic("c1", "s1", "tank", "t1"), tank).samples) == 2
    cc = contract.coldchain_payload("c1", "s1", "t1", "2026-11-01T06:00:00.000-05:00", "cooling",
                                    "texto", "milk_added", warning="predicted_miss",
                                    eta="2026-11-01T08:00:00-05:00")
    msg = _roundtrip(station_topic("c1", "s1", "coldchain"), cc)
    # The warning fields survive validation (the alert engine reads them).
    assert isinstance(msg, ColdchainV1) and msg.warning == "predicted_miss"
    assert msg.eta.hour == 8 and msg.reason_code == "milk_added"
    shift = contract.shift_payload("c1", "s1", "2026-11-01", "manana", "2026-11-01T12:00:00-05:00",
                                   3, 1, 50.5, 12.1, {"alcohol_positive": 1}, producers={})
    assert _roundtrip(station_topic("c1", "s1", "shift"), shift).rejected == 1
    record = contract.delivery_payload(id="abc", seq=1, kind="delivery", refers_to=None, center="c1",
                                       station="s1", producer="P001", ts="2026-11-01T06:00:00.000-05:00",
                                       liters=20.5, accepted=True, solids_pct=12.0)
    sealed = seal(record, "0" * 64, KEY)
    delivery = _roundtrip(station_topic("c1", "s1", "delivery"), sealed)
    assert delivery.hash == sealed["hash"] and delivery.receipt_code == sealed["receipt_code"]


def test_a_builder_that_drifts_from_the_contract_fails_at_the_station():
    with pytest.raises(Exception):
        contract.status_payload("c1", "s1", "asleep")


def test_coldchain_without_warning_keeps_none():
    cc = contract.coldchain_payload("c1", "s1", "t1", "2026-11-01T06:00:00-05:00", "break", "x", "warm_too_long")
    msg = _roundtrip(station_topic("c1", "s1", "coldchain"), cc)
    assert msg.warning is None and msg.eta is None and "warning" not in cc


@pytest.mark.parametrize("topic, parts", [
    ("milk/v1/c1/s1/delivery", ("c1", "s1", "delivery", None)),
    ("milk/v1/c1/s1/tank/t2", ("c1", "s1", "tank", "t2")),
    ("milk/v1/c1/s1/tank", None),
    ("milk/v1/c1/s1/delivery/x", None),
    ("milk/v1/C1/s1/delivery", None),
    ("milk/v2/c1/s1/delivery", None),
])
def test_station_topics(topic, parts):
    assert parse_station_topic(topic) == (parts and contract.topics.StationTopic(*parts))


def test_the_hub_subscribes_to_every_station_kind():
    for kind in contract.topics.STATION_KINDS:
        rest = (kind, "t1") if kind == "tank" else (kind,)
        topic = station_topic("c1", "s1", *rest)
        assert any(_matches(sub, topic) for sub in HUB_SUBSCRIPTIONS), topic


def _matches(sub: str, topic: str) -> bool:
    a, b = sub.split("/"), topic.split("/")
    return len(a) == len(b) and all(x in ("+", y) for x, y in zip(a, b))


def test_registry_message_leaves_out_what_stations_do_not_need():
    producers, lab = parse_registry_rows("t.csv", [
        (2, {"code": "P001", "name": "Ana", "lab_fat_pct": "3.6", "lab_date": "2026-10-01",
             "phone": "+59170000000", "notify": "json://x"}),
        (3, {"code": "P002", "name": "Luis", "active": "no"})])
    payload = contract.registry_payload("c1", registry_message_rows(producers, lab))
    msg = decode(RegistryV1, json.dumps(payload).encode())
    assert [(p.code, p.active, p.lab_fat_pct) for p in msg.producers] == [("P001", True, "3.6"),
                                                                         ("P002", False, None)]
    assert "phone" not in json.dumps(payload) and "notify" not in json.dumps(payload)


@pytest.mark.parametrize("row, field", [
    ({"code": "ap", "name": "x"}, "campo code: «ap» es una orden del teclado"),
    ({"code": "P 1", "name": "x"}, "campo code"),
    ({"code": "", "name": "x"}, "campo code: falta el código"),
    ({"code": "P1", "active": "maybe"}, "campo active"),
    ({"code": "P1", "lab_fat_pct": "abc", "lab_date": "2026-01-01"}, "campo lab_fat_pct"),
    ({"code": "P1", "phone": "71234567"}, "campo phone: «71234567» no es un teléfono"),
    ({"code": "P1", "phone": "+591 7123 456 789 0123"}, "campo phone"),
    ({"code": "P1", "notify": "json:/x"}, "campo notify"),
])
def test_bad_registry_rows_name_row_and_field(row, field):
    with pytest.raises(RegistryError) as caught:
        parse_registry_rows("t.csv", [(7, row)])
    assert caught.value.text("es").startswith(f"t.csv: fila 7, {field}")
    assert caught.value.text("en").startswith("t.csv: row 7, field ")


def test_duplicate_registry_code_names_both_rows():
    with pytest.raises(RegistryError) as caught:
        parse_registry_rows("t.csv", [(2, {"code": "P1"}), (3, {"code": "P2"}), (4, {"code": "P1"})])
    assert caught.value.text("es") == "t.csv: fila 4, campo code: «P1» ya está en la fila 2"


def test_registry_phone_is_kept_in_e164():
    producers, _ = parse_registry_rows("t.csv", [(2, {"code": "P1", "phone": "+591 (71) 234-567"})])
    assert producers[0].phone == "+59171234567"


def test_bad_registry_message_is_refused():
    with pytest.raises(InvalidPayload, match="producers"):
        decode(RegistryV1, b'{"schema": "registry/1", "center": "c1", "producers": [{"name": "x"}]}')


def test_catalogs_have_every_text_in_both_languages():
    assert check_catalogs() == []


def test_translate_languages_and_fallbacks():
    assert normalize_language("es_BO.UTF-8") == "es" and normalize_language("en_US") == "en"
    assert normalize_language(None) == "es" and normalize_language("qu") == "es"
    assert translate("station", "reason.void", "es") == "anulada"
    assert translate("station", "reason.void", "en") == "voided"
    assert translate("station", "unsent", "es_PE", count=3) == "Pendientes de envío: 3"
    with pytest.raises(MissingText):
        translate("station", "no-such-key")


# -- every payload through its model --------------------------------------------
def _declared_only(model, payload: dict) -> None:
    """`payload` decodes with `model` and carries no key it does not declare
    (the hub would drop such a key without a word)."""
    import msgspec

    from milk_common.contract.payloads import undeclared_key
    decoded = decode(model, json.dumps(payload).encode())
    assert isinstance(decoded, model)
    assert set(payload) <= set(model.__struct_fields__) | {"schema"}, \
        set(payload) - set(model.__struct_fields__)
    assert undeclared_key(payload, msgspec.to_builtins(decoded)) is None


def _station_payloads(tmp_path) -> dict[str, list]:
    """What the station's own code builds, by builder: deliveries recorded and
    sealed by the outbox from the bench's builder, a tank batch, a shift
    summary, the publisher's status messages."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from collector_station.intake.shifts import summarize
    from collector_station.outbox.publisher import OutboxPublisher
    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records

    outbox = Outbox(tmp_path / "station.sqlite3")
    try:
        start = datetime(2026, 11, 3, 6, 0, tzinfo=ZoneInfo("America/La_Paz"))
        records = [outbox.record_delivery(r, station_topic("c1", "s1", "delivery"), KEY)
                   for r in make_records(4, center="c1", station="s1", start=start, seed=3)]
        for i in range(3):
            outbox.add_tank_sample("t1", f"2026-11-03T06:0{i}:00.000-04:00", None if i == 1 else 4.0 + i)
        outbox.batch_tank_samples(lambda tank: station_topic("c1", "s1", "tank", tank),
                                  {"center": "c1", "station": "s1"}, 3)
        tank = outbox.tank_messages()
        publisher = OutboxPublisher(outbox, center="c1", station="s1", host="127.0.0.1", port=1)
        publisher.status_fields(clock="synced")
        status = [json.loads(publisher._status_message("online", {"scale": "connected"},
                                                       **publisher.status_extra, **publisher._seqs(),
                                                       outbox=outbox.backlog())),
                  json.loads(publisher._status_message("offline", epoch=outbox.epoch))]
    finally:
        outbox.close()
    shift = summarize(records, center="c1", station="s1", day=start.date(), shift="manana",
                      ts="2026-11-03T12:00:00.000-04:00")
    return {"delivery_payload": records, "tank_payload": tank, "shift_payload": [shift],
            "status_payload": status}


def test_every_builder_gives_what_its_model_declares(tmp_path):
    from milk_common.contract import payloads
    from milk_common.contract.registry import Producer

    built = _station_payloads(tmp_path)
    ts = "2026-11-03T06:00:00.000-04:00"
    built["coldchain_payload"] = [
        contract.coldchain_payload("c1", "s1", "t1", ts, "cooling", "leche añadida", "milk_added"),
        contract.coldchain_payload("c1", "s1", "t1", ts, "cooling", "x", "milk_added",
                                   warning="predicted_miss", eta=None)]
    built["registry_payload"] = [contract.registry_payload("c1", registry_message_rows(
        [Producer("P001", "Ana", True)], []))]
    built["alerts_payload"] = [contract.alerts_payload("c1", ts, [
        {"id": 1, "kind": "coldchain_break", "station": "s1", "tank": "t1", "since": ts,
         "detail": "ruptura", "acked": False}])]
    built["replay_payload"] = [contract.replay_payload("c1", "s1", "3f9c0d1e2a4b5c6d", "tank", 2, 5)]
    built["hub_status_payload"] = [contract.hub_status_payload("milk-hub", "online")]
    # Every builder of the contract is here: a new one needs its line.
    builders = {name for name in dir(payloads) if name.endswith("_payload")
                and callable(getattr(payloads, name))}
    assert builders == set(built), builders ^ set(built)
    models = {"delivery_payload": contract.DeliveryV1, "tank_payload": contract.TankV1,
              "shift_payload": contract.ShiftV1, "status_payload": StatusV1,
              "coldchain_payload": ColdchainV1, "registry_payload": RegistryV1,
              "alerts_payload": contract.AlertsV1, "replay_payload": contract.ReplayV1,
              "hub_status_payload": contract.HubStatusV1}
    for name, made in built.items():
        assert made, name
        for payload in made:
            _declared_only(models[name], payload)


def test_the_station_delivery_keys_are_declared(tmp_path):
    """The bench's delivery keys that only trace a figure to its instrument
    (outside the seal) arrive at the hub as values, not dropped keys."""
    record = _station_payloads(tmp_path)["delivery_payload"][-1]
    delivery = _roundtrip(station_topic("c1", "s1", "delivery"), record)
    assert (delivery.weight_source, delivery.liters_density, delivery.density_source,
            delivery.formula) == ("scale", "measured", "densimeter", "richmond")
    assert delivery.density_g_ml == record["density_g_ml"] and delivery.density_compensated is False
    assert delivery.lactometer_15c == record["lactometer_15c"]


def test_a_drifting_builder_names_the_key_at_the_station():
    fields = dict(id="abc", seq=1, center="c1", station="s1", producer="P001",
                  ts="2026-11-01T06:00:00.000-05:00", liters=20.5, accepted=True, solids_pct=12.0)
    assert contract.delivery_payload(**fields)["liters"] == 20.5
    with pytest.raises(InvalidPayload, match="^delivery/1: density_raw: not declared"):
        contract.delivery_payload(**fields, density_raw=1.03)
    with pytest.raises(InvalidPayload, match="^delivery/1: liters: Expected"):
        contract.delivery_payload(**{**fields, "liters": -1})
    with pytest.raises(InvalidPayload, match=r"^shift/1: producers\.P001\.kg: not declared"):
        contract.shift_payload("c1", "s1", "2026-11-01", "manana", "2026-11-01T12:00:00-05:00", 1, 0,
                               20.5, 12.0, {}, producers={"P001": {"deliveries": 1, "rejected": 0,
                                                                   "liters": 20.5, "kg": 21}})
    with pytest.raises(InvalidPayload, match=r"^tank/1: samples\.0\.valid: not declared"):
        contract.tank_payload("c1", "s1", "t1", [{"ts": "2026-11-01T06:00:00-05:00", "temp_c": 4.0,
                                                  "valid": True}])
    with pytest.raises(InvalidPayload, match="^alerts/1: alerts"):
        contract.alerts_payload("c1", "2026-11-01T06:00:00-05:00", [{"id": "one"}])


def test_records_stored_before_the_new_keys_still_decode_and_hash_alike():
    """The new DeliveryV1 fields are optional and outside the seal: a record
    stored at a station without them (or with them, as the docs' example)
    decodes, and its hash is the same with or without them."""
    from milk_common.integrity import record_hash
    old = {"schema": "delivery/1", "id": "d1", "seq": 1, "center": "c1", "station": "s1",
           "producer": "P001", "ts": "2026-11-01T06:00:57.000-05:00", "liters": 25.7,
           "accepted": True, "solids_pct": 12.03}
    sealed = seal(old, "0" * 64, KEY)
    assert _roundtrip(station_topic("c1", "s1", "delivery"), sealed).weight_source is None
    traced = {**sealed, "weight_source": "scale", "liters_density": "measured", "density_g_ml": 1.0307,
              "density_compensated": False, "density_source": "densimeter", "lactometer_15c": 30.74,
              "formula": "richmond"}
    assert record_hash(traced) == record_hash(sealed) == sealed["hash"]
    assert _roundtrip(station_topic("c1", "s1", "delivery"), traced).formula == "richmond"


# -- one rule, one builder, one name ----------------------------------------------
def test_one_valid_producer_code_for_station_and_hub():
    import collector_station.station as station
    import hub.payments.advances as advances
    from milk_common.contract.ids import valid_producer_code

    assert station.valid_producer_code is valid_producer_code
    assert advances.valid_producer_code is valid_producer_code
    assert valid_producer_code("P001") and valid_producer_code("p-7_b")
    # A keypad word is never a producer code: the bench reads `ap` as "alcohol passes".
    assert not any(valid_producer_code(w) for w in ("ap", "AP", "e", "M", "P 1", "", "ñ1", "x" * 33))
    # The payload pattern stays wider: a record made under such a code still decodes.
    assert contract.PRODUCER_CODE.match("ap")


@pytest.mark.parametrize("name, home", [("valid_producer_code", "milk_common/contract/ids.py"),
                                        ("status_payload", "milk_common/contract/payloads.py")])
def test_one_definition_of_each_shared_name(name, home):
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    found = sorted(str(path.relative_to(repo))
                   for top in ("collector_station", "hub", "milk_common")
                   for path in (repo / top).rglob("*.py")
                   if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
                          for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))))
    assert found == [home]


def test_docs_delivery_table_names_every_field():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "payloads.md").read_text(encoding="utf-8")
    section = doc.split("## `delivery/1`", 1)[1].split("\n## ", 1)[0]
    documented = {name for row in re.findall(r"^\| ([^|]+) \|", section, re.M)
                  for name in re.findall(r"`([a-z_0-9]+)`", row)}
    assert set(contract.DeliveryV1.__struct_fields__) | {"schema"} <= documented, \
        set(contract.DeliveryV1.__struct_fields__) - documented
