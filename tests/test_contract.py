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
