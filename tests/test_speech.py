"""Spoken feedback: numbers in Spanish words, the sentences from the catalog,
espeak-ng started without waiting for it, silence (said once) without it,
and the station speaking a recorded delivery."""

import logging
import stat
from decimal import Decimal

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.simulate import SimulatedBench
from collector_station.speech import EspeakBackend, RecordingBackend, Speaker, number_words
from collector_station.station import Station

from .conftest import wait_until


@pytest.mark.parametrize("value, es, en", [
    (0, "cero", "zero"), (1, "un", "one"), (16, "dieciséis", "sixteen"),
    (21, "veintiún", "twenty-one"), (25, "veinticinco", "twenty-five"),
    (31, "treinta y un", "thirty-one"), (47, "cuarenta y siete", "forty-seven"),
    (100, "cien", "one hundred"), (101, "ciento un", "one hundred one"),
    (555, "quinientos cincuenta y cinco", "five hundred fifty-five"),
    (1000, "mil", "one thousand"), (21000, "veintiún mil", "twenty-one thousand"),
    (Decimal("24.6"), "veinticuatro coma seis", "twenty-four point six"),
    (Decimal("20.04"), "veinte", "twenty"), (Decimal("1.5"), "uno coma cinco", "one point five"),
])
def test_numbers_in_words(value, es, en):
    assert number_words(value, "es") == es
    assert number_words(value, "en") == en


def test_numbers_out_of_range_are_refused():
    with pytest.raises(ValueError):
        number_words(-1)
    with pytest.raises(ValueError):
        number_words(1_000_000)


@pytest.mark.parametrize("record, es", [
    ({"accepted": True, "liters": 25.0}, "Aceptada, veinticinco litros."),
    ({"accepted": True, "liters": 20.42}, "Aceptada, veinte coma cuatro litros."),
    ({"accepted": True, "liters": 1.0}, "Aceptada, un litro."),
    ({"accepted": False, "reject_reason": "operator_reject", "liters": 0.0}, "Rechazada."),
    ({"accepted": False, "reject_reason": "alcohol_positive", "liters": 0.0},
     "Rechazada: prueba de alcohol positiva (acidez, calostro o mastitis)."),
])
def test_sentences_come_from_the_catalog(record, es):
    assert Speaker(RecordingBackend(), "es").sentence(record) == es


def test_voids_and_corrections_are_not_spoken_and_off_means_silent():
    backend = RecordingBackend()
    Speaker(backend, "es").delivery({"kind": "void", "accepted": False, "liters": 0.0})
    Speaker(backend, "es", enabled=False).delivery({"accepted": True, "liters": 9.0})
    assert backend.said == []


def fake_espeak(tmp_path):
    """A stand-in for espeak-ng that notes its arguments and speaks until released."""
    script = tmp_path / "espeak-ng"
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" > {tmp_path}/args.$$\n'
                      f'while [ ! -e {tmp_path}/release ]; do sleep 0.05; done\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_espeak_is_started_and_never_waited_for(tmp_path):
    backend = EspeakBackend("es-419", command=fake_espeak(tmp_path))
    backend.say("Aceptada, veinticinco litros.")
    first = backend._current
    # say() came back while the voice is still speaking.
    assert first.poll() is None
    wait_until(lambda: list(tmp_path.glob("args.*")), 5, 0.02)
    assert (tmp_path / f"args.{first.pid}").read_text() == "-v|es-419|--|Aceptada, veinticinco litros.|"
    # A new result cuts the old one short.
    backend.say("Rechazada.")
    wait_until(lambda: first.poll() is not None, 5, 0.02, "the first sentence stopped")
    (tmp_path / "release").touch()
    backend.close()


def test_without_espeak_the_bench_is_silent_and_says_so_once(caplog):
    backend = EspeakBackend(command="no-such-espeak-here")
    assert not backend.available
    with caplog.at_level(logging.WARNING, logger="collector_station.speech"):
        for _ in range(3):
            backend.say("Aceptada, un litro.")
    assert len([r for r in caplog.records if "espeak" in r.getMessage()]) == 1


def test_the_station_speaks_a_recorded_delivery(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", seed=2, frame_interval_s=0.01, settle_s=0.05).start()
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05)
                    + '\n[acceptance]\nalcohol_test = "off"\nconfirm = false\n'
                    + '\n[registry]\nrequire_known = false\n\n[console]\nenabled = false\nspeech = true\n')
    config = load_station_config(path)
    assert config.console.speech is True
    station = Station(config, display=lambda m: None, printer=lambda t: None)
    backend = station.speaker.backend = RecordingBackend()
    station.start()
    try:
        assert station.wait_ready()
        station.enter_producer("p001")
        bench.scale.place(20.62)
        bench.densimeter.measure(1.031, 15.0)
        delivery = station.wait_for_delivery(0, 10)
        assert delivery is not None and delivery["liters"] == 20.0
        assert backend.said == ["Aceptada, veinte litros."]
    finally:
        station.stop()
        bench.stop()


def test_speech_is_off_by_default(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text('center = "c1"\nstation = "s1"\n[scale]\nport = "/dev/null"\n'
                    '[densimeter]\nport = "/dev/null"\n')
    assert load_station_config(path).console.speech is False
