"""Sans-IO parsers: documented frames decode exactly, noise never raises."""

import json
import subprocess
import sys
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from collector_station.instruments.protocols import (
    Analysis,
    BridgeSample,
    ParseError,
    Status,
    Weight,
    detect_format,
    make_parser,
)
from collector_station.instruments.protocols.bridge import checksum, frame

D = Decimal
AD_CAPTURE = (b"ST,+00012.34  kg\r\nUS,NT,+000000.Kg\r\nST,GS,+  4.876kg\r\n"
              b"ST,GS,+00012.34  kg\r\nST,+001234.5   g\r\nOL,+9999999 kg\r\nQT,+00000100 PC\r\n"
              b"US,GS,-00001.20 kg\r\n")


def test_ad_documented_frames():
    events = make_parser("ad").feed(AD_CAPTURE)
    assert events[0] == Weight(D("12.34"), True, "ok", None)
    assert events[1] == Weight(D("0"), False, "ok", "net")
    assert events[2] == Weight(D("4.876"), True, "ok", "gross")
    assert events[3] == Weight(D("12.34"), True, "ok", "gross")
    assert events[4] == Weight(D("1.2345"), True, "ok", None)
    assert events[5] == Weight(None, False, "overload", None)
    assert isinstance(events[6], Status) and events[6].status == "count_mode"
    assert events[7] == Weight(D("-1.20"), False, "ok", "gross")


def test_bridge_density_and_samples():
    data = (frame("DEN", 7, "1.0312", "18.4", "R") + frame("DEN", 8, "1.0300", "15.0", "C")
            + frame("LC", 9, 12345, -8388) + frame("TMP", 10, 12400, "28-0000075a1b2c", 4125))
    events = make_parser("bridge").feed(data)
    assert events[0] == Analysis(density_g_ml=D("1.0312"), temp_c=D("18.4"), compensated=False)
    assert events[1].compensated is True
    assert events[2].sensor == "load_cell" and events[2].raw == -8388
    assert events[3].channel == "28-0000075a1b2c" and events[3].raw == 4125


def test_bridge_checksum_is_xor_of_body():
    assert checksum(b"DEN,1,1.0312,18.4,R") == f"{_xor(b'DEN,1,1.0312,18.4,R'):02X}"


def _xor(data):
    value = 0
    for b in data:
        value ^= b
    return value


def test_bridge_corrupted_checksum_is_an_error_never_a_reading():
    good = frame("DEN", 1, "1.0312", "18.4", "R")
    bad = good.replace(b"1.0312", b"1.0212")
    parser = make_parser("bridge")
    events = parser.feed(bad)
    assert len(events) == 1 and isinstance(events[0], ParseError)
    assert parser.errors == 1 and parser.frames == 0


def test_noise_then_resync():
    parser = make_parser("ad")
    events = parser.feed(b"\xff\x00garbage" * 40 + b"\r\nST,+00012.34  kg\r\n")
    assert isinstance(events[-1], Weight) and events[-1].value_kg == D("12.34")
    assert parser.errors >= 1


# What each format may yield at all: a scale line never becomes an analysis.
YIELDS = {"ad": (Weight, Status, ParseError), "bridge": (Analysis, BridgeSample, Status, ParseError)}


@given(st.binary(max_size=2000), st.sampled_from(sorted(YIELDS)))
def test_any_bytes_never_raise(data, fmt):
    parser = make_parser(fmt)
    events = parser.feed(data)
    assert all(isinstance(event, YIELDS[fmt]) for event in events), events
    # Noise is counted as ordinary errors, never as a parser bug.
    assert parser.bugs == 0
    assert parser.errors == sum(isinstance(e, ParseError) for e in events)
    assert parser.frames + parser.errors == len(events)


@given(st.integers(min_value=0, max_value=len(AD_CAPTURE)))
def test_split_anywhere_decodes_identically(cut):
    whole = make_parser("ad").feed(AD_CAPTURE)
    parser = make_parser("ad")
    assert parser.feed(AD_CAPTURE[:cut]) + parser.feed(AD_CAPTURE[cut:]) == whole


def test_detect_format():
    assert detect_format(AD_CAPTURE) == "ad"
    assert detect_format(frame("DEN", 1, "1.0312", "18.4", "R") * 3) == "bridge"
    assert detect_format(b"\x00\x01\x02") is None


def test_parse_cli_on_capture(tmp_path):
    capture = tmp_path / "scale.bin"
    capture.write_bytes(AD_CAPTURE + b"\x00noise\r\n")
    out = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format", "auto",
                          str(capture)], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["kind"] == "weight" and lines[0]["value_kg"] == 12.34 and lines[0]["stable"]
    assert lines[-1]["kind"] == "error"
    assert sum(1 for x in lines if x["kind"] == "weight") == 7


def test_parse_cli_unknown_format_one_line(tmp_path):
    capture = tmp_path / "x.bin"
    capture.write_bytes(b"x")
    proc = subprocess.run([sys.executable, "-m", "collector_station", "parse", "--format", "nope",
                           str(capture)], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown format" in proc.stderr
    assert "Traceback" not in proc.stderr
