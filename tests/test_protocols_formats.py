"""Every instrument format: hand-built captures (tests/captures/, from the
frames documented in docs/instruments.md) decode exactly, directly and
through `collector-station parse`; random bytes in any chunking never raise;
a split anywhere decodes identically; a corrupted frame is never a reading."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector_station.instruments.protocols import (
    INSTRUMENTS,
    PARSERS,
    ADParser,
    Analysis,
    BridgeSample,
    LoadCellCalibration,
    ParseError,
    ParserBug,
    Status,
    Volume,
    Weight,
    detect_format,
    ekomilk,
    event_to_json,
    make_parser,
    toledo,
)
from collector_station.instruments.protocols.bridge import frame

D = Decimal
CAPTURES = Path(__file__).parent / "captures"
E = ParseError          # compared by type only (reason text is free to improve)

EXPECTED = {
    "ad": [Weight(D("12.34"), True), Weight(D(0), False, "ok", "net"),
           Weight(D("4.876"), True, "ok", "gross"), Weight(D("12.34"), True, "ok", "gross"),
           Weight(D("1.2345"), True), Weight(None, False, "overload"), Status("count_mode"),
           Weight(D("-1.20"), False, "ok", "gross"), E, Weight(D("20.62"), True, "ok", "gross")],
    "sics": [Weight(D("12.34"), True), Weight(D("5.20"), False), Weight(D("1.2345"), True),
             Weight(None, False, "overload"), Weight(None, False, "underload"), Status("busy"),
             Status("error"), Status("error"), Status("error"), Status("tare_done"),
             Status("zero_done"), E, Weight(D("-0.02"), True)],
    # Decimal codes (SWA bits 0-2): 4 (XXXX.XX) unless said; 22.0 lb at code 3,
    # 1250 and 12500 kg at codes 1 and 0 (weighbridges), 47.424 kg at code 5.
    "toledo": [E, Weight(D("12.34"), True, "ok", "gross"), Weight(D("12.00"), False, "ok", "gross"),
               Weight(D("-0.50"), True, "ok", "net"), Weight(None, False, "error", "gross"), E,
               Weight(D("9.97903214"), True, "ok", "gross"), Weight(D("1250"), True, "ok", "gross"),
               Weight(D("12500"), True, "ok", "gross"), Weight(D("47.424"), True, "ok", "gross"),
               Weight(D("12.34"), True, "ok", "gross")],
    "simple": [Weight(D("17.31"), None), Weight(D("17.31"), None), Volume(D("1.25")),
               Weight(D("-0.40"), None), E, Weight(D("20.00"), None), Weight(D("20.00"), None), E],
    "lactoscan": [
        Analysis(density_g_ml=D("1.02840"), temp_c=D("21.3"), fat_pct=D("3.52"), snf_pct=D("8.61"),
                 protein_pct=D("3.18"), lactose_pct=D("4.21"), added_water_pct=D(0),
                 freezing_point_c=D("-0.541"), compensated=True, salts_pct=D("0.70"),
                 ph=D("6.65"), conductivity_ms_cm=D("4.80")),
        Status("cleaning"), Status("cleaning"), Status("rinse"),
        Analysis(density_g_ml=D("1.0291"), temp_c=D("18.2"), fat_pct=D("4.10"), snf_pct=D("8.90"),
                 protein_pct=D("3.30"), lactose_pct=D("4.35"), added_water_pct=D(0),
                 freezing_point_c=D("-0.552"), compensated=True, salts_pct=D("0.72")),
        E,
        Analysis(density_g_ml=D("1.0278"), temp_c=D("20.0"), fat_pct=D("3.40"), snf_pct=D("8.50"),
                 protein_pct=D("3.10"), lactose_pct=D("4.15"), added_water_pct=D("2.10"),
                 freezing_point_c=D("-0.521"), compensated=True, salts_pct=D("0.69"))],
    "ekomilk": [
        Status("ack"),
        Analysis(density_g_ml=D("1.0295"), fat_pct=D("3.85"), snf_pct=D("8.70"),
                 added_water_pct=D(0), freezing_point_c=D("-0.542"), protein_pct=D("3.20"),
                 conductivity_ms_cm=D("4.75"), compensated=True),
        Status("ack"), Status("error"), E, Status("ack"),
        Analysis(density_g_ml=D("1.0301"), fat_pct=D("4.10"), snf_pct=D("9.05"),
                 added_water_pct=D("1.50"), freezing_point_c=D("-0.531"), protein_pct=D("3.35"),
                 conductivity_ms_cm=D("5.00"), compensated=True)],
    "bridge": [E, Status("bridge_started", "1.0.0"), BridgeSample("load_cell", 1, 1000, 84210),
               BridgeSample("load_cell", 2, 1012, 84215),
               BridgeSample("temperature", 3, 1500, 4125, "28-0000075a1b2c"), E,
               Analysis(density_g_ml=D("1.0312"), temp_c=D("18.4")),
               Analysis(density_g_ml=D("1.0300"), temp_c=D("15.0"), compensated=True),
               Status("bridge_error", "hx711_timeout")],
}


def capture(fmt: str) -> bytes:
    return (CAPTURES / f"{fmt}.bin").read_bytes()


def decode(fmt: str, data: bytes, chunks=None) -> list:
    parser = make_parser(fmt)
    events = []
    if chunks is None:
        events += parser.feed(data)
    else:
        for chunk in chunks:
            events += parser.feed(chunk)
    return events + parser.flush()


def same(got, expected) -> bool:
    """Equal event lists; a Status compares by status (and detail when given)."""
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        if e is E:
            if not isinstance(g, ParseError):
                return False
        elif isinstance(e, Status):
            if not isinstance(g, Status) or g.status != e.status or (e.detail and g.detail != e.detail):
                return False
        elif g != e:
            return False
    return True


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_capture_decodes_exactly(fmt):
    events = decode(fmt, capture(fmt))
    assert same(events, EXPECTED[fmt]), events
    parser = make_parser(fmt)
    parser.feed(capture(fmt))
    parser.flush()
    assert parser.errors == sum(1 for e in EXPECTED[fmt] if e is E)


def test_every_format_has_a_capture():
    assert set(EXPECTED) == set(PARSERS)


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_capture_split_at_every_position_decodes_identically(fmt):
    data = capture(fmt)
    whole = decode(fmt, data)
    for cut in range(len(data) + 1):
        assert decode(fmt, data, [data[:cut], data[cut:]]) == whole, cut
    assert decode(fmt, data, [bytes([b]) for b in data]) == whole


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_auto_detects_each_capture(fmt):
    assert detect_format(capture(fmt)) == fmt


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_cli_decodes_capture_exactly(fmt):
    out = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format", "auto",
                          str(CAPTURES / f"{fmt}.bin")], capture_output=True, text=True,
                         check=True).stdout
    lines = [json.loads(x) for x in out.splitlines()]
    expected = EXPECTED[fmt]
    assert len(lines) == len(expected)
    for line, event in zip(lines, expected):
        assert line["format"] == fmt
        if event is E:
            assert line["kind"] == "error" and line["reason"]
        elif isinstance(event, Status):
            assert line["kind"] == "status" and line["status"] == event.status
        else:
            assert {k: v for k, v in line.items() if k != "format"} == event_to_json(event)


def test_cli_standard_input_and_contract_keys():
    proc = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format", "toledo",
                           "-"], input=capture("toledo"), capture_output=True, check=True)
    weights = [json.loads(x) for x in proc.stdout.splitlines() if b'"weight"' in x]
    assert weights[0]["value_kg"] == 12.34 and weights[0]["stable"] is True
    proc = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format",
                           "lactoscan", "-"], input=capture("lactoscan"), capture_output=True,
                          check=True)
    first = json.loads(proc.stdout.splitlines()[0])
    assert (first["kind"], first["fat_pct"], first["snf_pct"], first["density_g_ml"],
            first["temp_c"]) == ("analysis", 3.52, 8.61, 1.0284, 21.3)


# -- properties ---------------------------------------------------------------
@settings(max_examples=300)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=600), st.lists(st.integers(0, 600)))
def test_any_bytes_any_chunking_never_raise_and_chunking_does_not_matter(fmt, data, cuts):
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    parser = make_parser(fmt)
    chunked = [e for chunk in chunks for e in parser.feed(chunk)] + parser.flush()
    assert chunked == decode(fmt, data)
    # Noise is an ordinary error, never a parser bug, and every event is counted.
    assert not any(isinstance(e, ParserBug) for e in chunked) and parser.bugs == 0
    assert parser.errors == sum(isinstance(e, ParseError) for e in chunked)
    assert parser.frames == len(chunked) - parser.errors
    # An instrument yields only what its kind declares: noise never turns a
    # scale line into an analysis, nor an analyzer line into a weight.
    if not INSTRUMENTS[fmt].weighs:
        assert not any(isinstance(e, (Weight, Volume)) for e in chunked)
    if not INSTRUMENTS[fmt].analyses:
        assert not any(isinstance(e, Analysis) for e in chunked)


@settings(max_examples=200)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=80), st.binary(max_size=80))
def test_noise_around_a_capture_never_hides_its_last_frame_forever(fmt, before, after):
    """After noise, the parser resynchronises: a capture fed after arbitrary
    bytes and a clean terminator still yields its readings."""
    parser = make_parser(fmt)
    parser.feed(before)
    parser.flush()            # end the noise (a CR, a pause the device reported)
    events = parser.feed(capture(fmt)) + parser.flush()
    readings = [e for e in events if e.kind in ("weight", "analysis", "sample", "volume")]
    expected = [e for e in EXPECTED[fmt] if e is not E and e.kind in
                ("weight", "analysis", "sample", "volume")]
    assert readings == expected


# 12.34 kg stable: SWA `$` (0x24: bit 5, decimal code 4 = XXXX.XX), SWB `0`
# (0x30: kg). Checksum by hand: STX..SWC 2 + 36 + 48 + 32 = 118, `001234`
# 48 + 48 + 49 + 50 + 51 + 52 = 298, `000000` 288, CR 13: 717 = 5*128 + 77,
# and 128 - 77 = 51 = 0x33, `3`.
TOLEDO_FRAME = b"\x02$0 001234000000\r3"


def test_toledo_checksum_by_hand():
    assert sum(TOLEDO_FRAME) % 128 == 0
    assert toledo.build_frame(1234, swa=0x24) == TOLEDO_FRAME
    assert decode("toledo", TOLEDO_FRAME) == [Weight(D("12.34"), True, "ok", "gross")]
    # 7-bit lines read as 8 bits: a parity bit set on every byte changes nothing.
    assert decode("toledo", bytes(b | 0x80 for b in TOLEDO_FRAME)) == decode("toledo", TOLEDO_FRAME)


@given(st.integers(0, 17), st.integers(0, 255))
def test_toledo_corrupted_byte_is_an_error_never_a_weight(pos, value):
    bad = bytearray(TOLEDO_FRAME)
    old, bad[pos] = bad[pos], value
    events = decode("toledo", bytes(bad))
    if (old ^ value) & 0x7F:
        assert not any(isinstance(e, Weight) for e in events)
        assert any(isinstance(e, ParseError) for e in events)
    else:
        assert events == [Weight(D("12.34"), True, "ok", "gross")]


BRIDGE_LINES = [frame("DEN", 5, "1.0312", "18.4", "R"), frame("LC", 9, 1000, -84210),
                frame("TMP", 3, 1500, "28-0000075a1b2c", 4125)]


@given(st.sampled_from(BRIDGE_LINES), st.data())
def test_bridge_corrupted_byte_is_an_error_never_a_reading(line, data):
    pos = data.draw(st.integers(0, len(line) - 3))       # not the CR LF
    value = data.draw(st.integers(0, 255).filter(lambda v: v != line[pos]))
    bad = bytearray(line)
    bad[pos] = value
    events = decode("bridge", bytes(bad))
    readings = [e for e in events if not isinstance(e, (ParseError, Status))]
    # Only a hex digit of the checksum changing case may still decode: identically.
    assert readings in ([], decode("bridge", line))
    if pos < line.index(b"*"):
        assert readings == []


@given(st.integers(0, 15), st.integers(0, 255))
def test_ekomilk_corrupted_answer_is_never_a_reading(pos, value):
    answer = capture("ekomilk")[1:19]
    bad = bytearray(answer)
    bad[pos] = value
    events = decode("ekomilk", bytes(bad))
    analyses = [e for e in events if isinstance(e, Analysis)]
    if (value >> 4) > 9 or (value & 15) > 9:       # not BCD: no frame at all
        assert analyses == []


def test_ekomilk_request_frame():
    req = ekomilk.request()
    assert len(req) == 71 and req[0] == 0x08 and req[1] == 0x06 and req[-1] == 0x09
    assert make_parser("ekomilk").commands["analyze"] == req


def test_bridge_counts_lost_lines():
    parser = make_parser("bridge")
    parser.feed(frame("LC", 1, 0, 5) + frame("LC", 2, 0, 5) + frame("LC", 6, 0, 5)
                + frame("LC", 65535, 0, 5) + frame("LC", 0, 0, 5))
    assert parser.lost_lines == 3 + 65528


def test_load_cell_calibration_host_side():
    cal = LoadCellCalibration.from_two_points(empty_raw=8000, loaded_raw=8000 + 21000 * 20,
                                              mass_kg=D(20))
    assert cal.counts_per_kg == 21000 and cal.offset_counts == 8000
    assert cal.kg(8000) == D("0.00")
    assert cal.kg(8000 + 21000 * 12 + 126) == D("12.01")      # 12.006 kg
    assert cal.kg(8000 + 21000 * 12 + 105) == D("12.00")      # 12.005: half to even
    assert cal.weight(8000 + 21000 * 5).stable is None        # no flag: the window decides
    assert cal.kg(8000 + 21000 * 5, tare_counts=21000 * 2) == D("3.00")
    with pytest.raises(ValueError):
        LoadCellCalibration(D(0))


def test_sics_commands_and_poll():
    parser = make_parser("sics")
    assert parser.poll == b"SI\r\n" and parser.commands["tare"] == b"T\r\n"
    assert parser.commands["zero"] == b"Z\r\n"
    assert make_parser("simple").commands == {}          # no tare on those scales


# -- Toledo decimal codes (devices.md: decimals = code - 2) ---------------------
# The digits `047424` under each SWA code 0-7, worked by hand from the table
# XXXX00, XXXXX0, XXXXXX, XXXXX.X, XXXX.XX, XXX.XXX, XX.XXXX, X.XXXXX.
TOLEDO_CODES = {0: D("4742400"), 1: D("474240"), 2: D("47424"), 3: D("4742.4"), 4: D("474.24"),
                5: D("47.424"), 6: D("4.7424"), 7: D("0.47424")}


def toledo_code_frame(code: int) -> bytes:
    return toledo.build_frame(47424, swa=0x20 | code)


@pytest.mark.parametrize("code", sorted(TOLEDO_CODES))
def test_toledo_decimal_code_through_the_parser(code):
    assert decode("toledo", toledo_code_frame(code)) == [Weight(TOLEDO_CODES[code], True, "ok", "gross")]
    assert toledo.decimals(0x20 | code) == code - 2
    assert toledo.swa_for_decimals(code - 2) == 0x20 | code


def test_toledo_swa_for_decimals_refuses_what_no_code_shows():
    for places in (-3, 6):
        with pytest.raises(ValueError):
            toledo.swa_for_decimals(places)


@pytest.mark.parametrize("fmt", ["toledo", "auto"])
def test_toledo_decimal_codes_through_the_cli(fmt):
    data = b"".join(toledo_code_frame(code) for code in sorted(TOLEDO_CODES))
    out = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format", fmt, "-"],
                         input=data, capture_output=True, check=True).stdout
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["kind"], x["format"], x["stable"]) for x in lines] == [("weight", "toledo", True)] * 8
    assert [x["value_kg"] for x in lines] == [4742400, 474240, 47424, 4742.4, 474.24, 47.424,
                                              4.7424, 0.47424]


# -- the registry -----------------------------------------------------------------
def test_registry_lists_derive_from_the_modules():
    from collector_station.instruments import simulate
    from collector_station.instruments.protocols import ANALYSIS_FORMATS, WEIGHT_FORMATS
    assert WEIGHT_FORMATS == ("ad", "sics", "toledo", "simple", "bridge")
    assert ANALYSIS_FORMATS == ("bridge", "lactoscan", "ekomilk")
    assert simulate.SCALE_FORMATS == WEIGHT_FORMATS and simulate.ANALYZER_FORMATS == ANALYSIS_FORMATS
    assert simulate.LINE["ekomilk"] == (1200, 8, "E") and simulate.LINE["bridge"][0] == 115200
    assert {name for name, i in INSTRUMENTS.items() if i.needs_trigger} == {"ekomilk"}
    assert {name for name, i in INSTRUMENTS.items() if i.poll} == {"sics"}
    assert {name for name, i in INSTRUMENTS.items() if i.calibrated_on_host} == {"bridge"}


@pytest.mark.parametrize("fmt", sorted(INSTRUMENTS))
def test_each_simulator_speaks_its_own_format(fmt):
    """The frames an instrument's module builds for the simulator decode, by
    its own parser, to what was shown: the simulator cannot drift from the parser."""
    import random

    from collector_station.instruments.protocols import MilkSample, ScaleDisplay
    spec = INSTRUMENTS[fmt]
    if spec.weighs:
        data = spec.weight_frame(ScaleDisplay(12.5, stable=True, seq=3), random.Random(1))
        events = decode(fmt, data)
        if spec.calibrated_on_host:
            sample, = events
            kg = LoadCellCalibration(D(spec.sim_config["counts_per_kg"]),
                                     spec.sim_config["offset_counts"]).kg(sample.raw)
            assert abs(kg - D("12.5")) <= D("0.01")
        else:
            assert len(events) == 1 and events[0].value_kg == D("12.5")
            assert events[0].stable in (True, None)
    if spec.analyses:
        data = spec.analysis_frame(MilkSample(1.0305, 18.0, fat_pct=3.9, snf_pct=8.7, seq=1))
        analyses = [e for e in decode(fmt, data) if isinstance(e, Analysis)]
        assert len(analyses) == 1 and analyses[0].density_g_ml == D("1.0305")


# -- a parser bug is loud, never line noise ----------------------------------------
class BrokenLineParser(ADParser):
    name = "broken_line"

    def parse_line(self, line):
        raise ZeroDivisionError("deliberate")


class BrokenBufferParser(toledo.ToledoParser):
    name = "broken_buffer"

    @staticmethod
    def _decode(frame):
        raise KeyError("deliberate")


@pytest.mark.parametrize("parser_class, data, raw", [
    (BrokenLineParser, b"ST,+00012.34  kg\r\n", b"ST,+00012.34  kg"),
    (BrokenBufferParser, TOLEDO_FRAME, TOLEDO_FRAME)])
def test_an_exception_in_a_parser_is_loud(caplog, parser_class, data, raw):
    parser = parser_class()
    with caplog.at_level("DEBUG"):
        events = parser.feed(data) + parser.flush()
    assert [type(e) for e in events] == [ParserBug]
    assert events[0].raw == raw and events[0].parser == parser_class.name
    assert "deliberate" in events[0].exception
    assert (parser.bugs, parser.errors, parser.frames) == (1, 0, 0)
    bugs = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(bugs) == 1 and repr(raw) in bugs[0].getMessage() and bugs[0].exc_info
    assert event_to_json(events[0])["kind"] == "parser_bug"
