"""Deliveries and advances CSV files (contracts.md, "Files")."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.payments.errors import PaymentsError
from hub.payments.periods import Period
from hub.payments.records import (
    Advance,
    Delivery,
    read_advances_csv,
    read_deliveries_csv,
    write_deliveries_csv,
)

DATA = Path(__file__).parent / "data" / "payments"
LIMA = ZoneInfo("America/Lima")
D = Decimal
HEADER = "id,producer,ts,liters,solids_pct,accepted,milk_temp_c,center,station,weight_kg,fat_pct,reject_reason\n"
GOOD = "d{n},p001,2026-11-0{n}T06:00:00-05:00,20.5,11.8,true,7,c1,s1,21.1,3.6,\n"


def deliveries_file(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "deliveries.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def test_example_deliveries_file():
    deliveries = read_deliveries_csv(DATA / "deliveries.csv")
    assert [d.id for d in deliveries] == ["d001", "d002", "d003", "d004", "d005", "d006", "d007"]
    first = deliveries[0]
    assert first == Delivery(
        id="d001",
        producer="p001",
        ts=datetime(2026, 11, 1, 11, 10, tzinfo=timezone.utc),
        liters=D("25.40"),
        solids_pct=D("11.62"),
        accepted=True,
        milk_temp_c=D("7.5"),
        center="laredo",
        station="bench1",
        weight_kg=D("26.16"),
        fat_pct=D("3.6"),
        reject_reason=None,
    )
    rejected = deliveries[3]
    assert (rejected.accepted, rejected.solids_pct, rejected.reject_reason) == (False, None, "acidez")
    assert deliveries[2].milk_temp_c is None and deliveries[2].weight_kg is None
    assert deliveries[4].ts == datetime(2026, 11, 16, 5, 0, tzinfo=timezone.utc)  # "Z" accepted


def test_bad_row_message_names_file_row_and_field(tmp_path):
    # Header is row 1, five good rows are rows 2-6, the bad one is row 7.
    good = [GOOD.format(n=n) for n in range(1, 6)]
    path = deliveries_file(tmp_path, *good, "d9,p001,2026-11-09T06:00:00-05:00,-3,11.8,true,,,,,,\n")
    with pytest.raises(PaymentsError) as error:
        read_deliveries_csv(path)
    assert str(error.value) == f"{path}: row 7, field liters: negative value '-3'"


@pytest.mark.parametrize(
    "row, expected",
    [
        ("d1,p1,2026-11-01T06:00:00,20,11.8,true,,,,,,", ", field ts: no UTC offset in '2026-11-01T06:00:00'"),
        ("d1,p1,yesterday,20,11.8,true,,,,,,", ", field ts: not an ISO 8601 time: 'yesterday'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,abc,11.8,true,,,,,,", ", field liters: not a decimal: 'abc'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,NaN,11.8,true,,,,,,", ", field liters: not a decimal: 'NaN'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,inf,11.8,true,,,,,,", ", field liters: not a decimal: 'inf'"),
        ('d1,p1,2026-11-01T06:00:00-05:00,"20,5",11.8,true,,,,,,', ", field liters: not a decimal: '20,5'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,,11.8,true,,,,,,", ", field liters: empty"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,,true,,,,,,", ", field solids_pct: empty"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,101,true,,,,,,", ", field solids_pct: above 100: '101'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,11.8,yes,,,,,,", ", field accepted: expected true or false, not 'yes'"),
        (",p1,2026-11-01T06:00:00-05:00,20,11.8,true,,,,,,", ", field id: empty"),
        ("d1, ,2026-11-01T06:00:00-05:00,20,11.8,true,,,,,,", ", field producer: empty"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,11.8,true,warm,,,,,", ", field milk_temp_c: not a decimal: 'warm'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,11.8,true,,,,-1,,", ", field weight_kg: negative value '-1'"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,11.8,true,,,", ": expected 12 fields, found 9"),
        ("d1,p1,2026-11-01T06:00:00-05:00,20,11.8,true,,,,,,,surplus", ": expected 12 fields, found 13"),
    ],
)
def test_bad_delivery_rows(tmp_path, row, expected):
    path = deliveries_file(tmp_path, row + "\n")
    with pytest.raises(PaymentsError) as error:
        read_deliveries_csv(path)
    assert str(error.value).startswith(f"{path}: row 2{expected}")


def test_duplicate_id_names_both_rows(tmp_path):
    path = deliveries_file(tmp_path, GOOD.format(n=1), GOOD.format(n=2), GOOD.format(n=1))
    with pytest.raises(PaymentsError) as error:
        read_deliveries_csv(path)
    assert str(error.value) == f"{path}: row 4, field id: duplicate id 'd1' (first on row 2)"


def test_missing_columns_and_empty_file(tmp_path):
    path = deliveries_file(tmp_path, "d1,p1,2026-11-01T06:00:00-05:00,20\n", header="id,producer,ts,liters\n")
    with pytest.raises(PaymentsError) as error:
        read_deliveries_csv(path)
    assert str(error.value).startswith(f"{path}: row 1: missing column(s) solids_pct, accepted")
    path.write_text("")
    with pytest.raises(PaymentsError, match="empty file"):
        read_deliveries_csv(path)
    with pytest.raises(PaymentsError, match="cannot read"):
        read_deliveries_csv(tmp_path / "absent.csv")
    path.write_bytes(HEADER.encode() + "d1,Pérez,2026-11-01T06:00:00-05:00,20,11.8,true,,,,,,\n".encode("latin-1"))
    with pytest.raises(PaymentsError, match="not UTF-8"):
        read_deliveries_csv(path)


def test_minimal_columns_in_any_order_extra_columns_ignored_blank_lines_skipped(tmp_path):
    path = deliveries_file(
        tmp_path,
        "FALSE,12.5,,Juan,d1,2026-11-01T06:00:00-05:00,note\n",
        "\n",
        "1,10,11.445,Juan,d2,2026-11-01T06:30:00-04:00,\n",
        "0,3,12,Ana,d3,2026-11-02T06:30:00+00:00,\n",
        header="accepted,liters,solids_pct,producer,id,ts,comment\n",
    )
    d1, d2, d3 = read_deliveries_csv(path)
    assert (d1.accepted, d1.liters, d1.solids_pct, d1.center, d1.reject_reason) == (False, D("12.5"), None, None, None)
    assert (d2.accepted, d2.solids_pct, d2.ts.utcoffset()) == (True, D("11.445"), timedelta(hours=-4))
    assert (d3.accepted, d3.solids_pct) == (False, D(12))  # a rejected delivery may carry its TS


def test_spreadsheet_bom_and_crlf(tmp_path):
    path = tmp_path / "deliveries.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD.format(n=1)).replace("\n", "\r\n").encode())
    (delivery,) = read_deliveries_csv(path)
    assert delivery.id == "d1" and delivery.liters == D("20.5")


def test_write_format(tmp_path):
    delivery = Delivery(
        id="d1",
        producer="p001",
        ts=datetime(2026, 11, 16, 4, 59, tzinfo=timezone.utc),
        liters=D("1E+1"),  # written without exponent
        solids_pct=None,
        accepted=False,
        reject_reason="acidez, olor",
    )
    path = tmp_path / "out.csv"
    write_deliveries_csv(path, [delivery], LIMA)
    assert path.read_text() == HEADER.replace("\n", ",receipt_code\n") + 'd1,p001,2026-11-15T23:59:00-05:00,10,,false,,,,,,"acidez, olor",\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


def text():
    # Values are stripped on reading, so generated text has no outer blanks.
    return st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
        lambda s: s == s.strip()
    )


def decimals(low, high, places=4):
    return st.decimals(min_value=low, max_value=high, allow_nan=False, allow_infinity=False, places=places)


@st.composite
def deliveries(draw):
    accepted = draw(st.booleans())
    solids = decimals(0, 100, 3)
    return Delivery(
        id=draw(text()),
        producer=draw(text()),
        ts=draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2100, 1, 1),
                timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-4)), LIMA]),
            )
        ),
        liters=draw(decimals(0, 100000)),
        solids_pct=draw(solids if accepted else st.none() | solids),
        accepted=accepted,
        milk_temp_c=draw(st.none() | decimals(-10, 60, 2)),
        center=draw(st.none() | text()),
        station=draw(st.none() | text()),
        weight_kg=draw(st.none() | decimals(0, 100000)),
        fat_pct=draw(st.none() | decimals(0, 100, 2)),
        reject_reason=draw(st.none() | text()),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(deliveries(), max_size=8, unique_by=lambda d: d.id), st.sampled_from([LIMA, ZoneInfo("America/La_Paz")]))
def test_write_then_read_keeps_every_value(tmp_path_factory, written, tz):
    path = tmp_path_factory.mktemp("round_trip") / "deliveries.csv"
    write_deliveries_csv(path, written, tz)
    read = read_deliveries_csv(path)
    assert read == written  # datetimes compare as instants, decimals by value
    for before, after in zip(written, read):
        assert after.ts.utcoffset() == before.ts.astimezone(tz).utcoffset()  # written in the association's zone


ADVANCES_HEADER = "producer,kind,amount,installments,first_period\n"


def test_example_advances_file():
    advances = read_advances_csv(DATA / "advances.csv")
    assert advances[0] == Advance("p001", "feed", D("10.01"), 2, Period(2026, 10, 2))
    assert len(advances) == 5


@pytest.mark.parametrize(
    "row, expected",
    [
        ("p1,feed,-5,1,2026-11-1", "field amount: negative value '-5'"),
        ("p1,feed,0,1,2026-11-1", "field amount: must be above zero: '0'"),
        ("p1,feed,10.005,2,2026-11-1", "field amount: more than two decimals: '10.005'"),
        ("p1,feed,10,3,2026-11-1", "field installments: expected 1 or 2, not '3'"),
        ("p1,feed,10,1,2026-11-3", "field first_period: period '2026-11-3': expected YYYY-MM-1"),
        ("p1,,10,1,2026-11-1", "field kind: empty"),
    ],
)
def test_bad_advance_rows(tmp_path, row, expected):
    path = tmp_path / "advances.csv"
    path.write_text(ADVANCES_HEADER + "p1,feed,10.01,2,2026-11-1\n" + row + "\n", encoding="utf-8")
    with pytest.raises(PaymentsError) as error:
        read_advances_csv(path)
    assert str(error.value).startswith(f"{path}: row 3, {expected}")
