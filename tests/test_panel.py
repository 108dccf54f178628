"""The GPIO bench panel on gpiozero's mock pin factory (callbacks fire
synchronously: no sleeps), alone and wired to the station's intake flow."""

import io

import pytest
from gpiozero.pins.mock import MockFactory

from collector_station.config import PanelConfig, PrinterConfig, load_station_config
from collector_station.instruments.simulate import SimulatedBench
from collector_station.panel import BenchPanel
from collector_station.printer import ConsolePrinter, NoPrinter, open_printer
from collector_station.station import Station

from .conftest import wait_until


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


def press(factory, pin):
    factory.pin(pin).drive_low()      # buttons pull up: pressed = low
    factory.pin(pin).drive_high()


def test_buttons_fire_their_events(factory):
    config = PanelConfig()
    hits = []
    with BenchPanel(config, pin_factory=factory) as panel:
        for name in ("accept", "reject", "tare", "alcohol_pass", "alcohol_fail"):
            setattr(panel, f"when_{name}", lambda name=name: hits.append(name))
        press(factory, config.tare_pin)
        press(factory, config.accept_pin)
        press(factory, config.alcohol_fail_pin)
        press(factory, config.reject_pin)
        press(factory, config.alcohol_pass_pin)
    assert hits == ["tare", "accept", "alcohol_fail", "reject", "alcohol_pass"]


def test_outputs(factory):
    config = PanelConfig(relay_pin=16, led_on_s=5)
    with BenchPanel(config, pin_factory=factory) as panel:
        panel.show_accepted()
        assert panel.green.is_lit and not panel.red.is_lit and panel.buzzer.is_active
        panel.show_rejected()
        assert panel.red.is_lit and not panel.green.is_lit
        panel.alarm(True)
        assert panel.alarm_on and factory.pin(config.buzzer_pin).state
        panel.alarm(False)
        assert not panel.red.is_lit and not panel.buzzer.is_active
        panel.relay.on()
        assert factory.pin(16).state
        panel.all_off()
        assert not factory.pin(16).state


def test_unfitted_parts_and_a_failing_handler(factory, caplog):
    config = PanelConfig(reject_pin=0, buzzer_pin=0, red_led_pin=0)
    hits = []
    with BenchPanel(config, pin_factory=factory) as panel:
        assert "reject" not in panel.buttons and panel.buzzer is None and panel.relay is None
        panel.show_rejected()          # nothing fitted to show it: no error
        panel.alarm(True)
        panel.when_accept = lambda: 1 / 0
        panel.when_tare = lambda: hits.append("tare")
        with caplog.at_level("ERROR", logger="collector_station.panel"):
            press(factory, config.accept_pin)       # logged, not raised into gpiozero
        failed = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(failed) == 1 and "accept" in failed[0].getMessage()
        assert failed[0].exc_info[0] is ZeroDivisionError
        # The panel keeps working: the other buttons, and the same one once fixed.
        press(factory, config.tare_pin)
        panel.when_accept = lambda: hits.append("accept")
        press(factory, config.accept_pin)
        assert hits == ["tare", "accept"]


def test_reject_held(factory):
    config = PanelConfig(hold_s=0.05)
    hits = []
    with BenchPanel(config, pin_factory=factory) as panel:
        panel.when_reject = lambda: hits.append("reject")
        press(factory, config.reject_pin)              # brushed: nothing
        assert hits == []
        factory.pin(config.reject_pin).drive_low()
        wait_until(lambda: hits, 2, 0.01, "held reject")
        factory.pin(config.reject_pin).drive_high()


def test_reserved_pins_refused():
    with pytest.raises(ValueError, match="1-Wire"):
        PanelConfig(tare_pin=4)


def test_panel_drives_the_station_flow(tmp_path, factory):
    bench = SimulatedBench(tmp_path / "bench", seed=5, frame_interval_s=0.01, settle_s=0.05).start()
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05)
                    + '\n[acceptance]\nalcohol_test = "required"\nconfirm = true\n'
                    + '\n[registry]\nrequire_known = false\n\n[panel]\n')
    config = load_station_config(path)
    shown = []
    station = Station(config, display=shown.append, printer=lambda text: None, pin_factory=factory)
    pins = config.panel
    panel = station.panel          # the station wires its own panel
    station.start()
    assert station.wait_ready()
    try:
        # Tare from the panel reaches the indicator.
        press(factory, pins.tare_pin)
        wait_until(lambda: any(b"T" in c for c in bench.scale.commands_seen), 5, 0.01, "tare sent")
        station.enter_producer("p001")
        bench.scale.place(20.0)
        bench.densimeter.measure(1.031, 15.0)
        press(factory, pins.alcohol_pass_pin)
        wait_until(lambda: station.flow.alcohol_ok is True, 5, 0.01)
        assert station.wait_for_delivery(0, 0.5) is None     # waits for the operator's decision
        assert station.wait_confirmation(5)
        press(factory, pins.accept_pin)
        first = station.wait_for_delivery(0, 10)
        assert first is not None and first["accepted"] is True and first["producer"] == "p001"
        wait_until(lambda: panel.green.is_lit, 5, 0.01, "green LED after the delivery")
        bench.scale.remove()
        wait_until(lambda: station.scale.state == "empty", 5, 0.01)
        # Alcohol test fails: the operator rejects from the panel.
        station.enter_producer("p002")
        bench.scale.place(15.0)
        bench.densimeter.measure(1.030, 15.0)
        press(factory, pins.alcohol_fail_pin)
        press(factory, pins.reject_pin)
        second = station.wait_for_delivery(first["seq"], 10)
        assert second is not None and second["accepted"] is False
        wait_until(lambda: panel.red.is_lit and not panel.green.is_lit, 5, 0.01, "red LED")
    finally:
        station.stop()
        bench.stop()


# -- receipt printer port --------------------------------------------------------
def test_console_printer_shows_the_receipt_text():
    stream = io.StringIO()
    printer = open_printer(PrinterConfig(kind="console"), console=stream)
    assert isinstance(printer, ConsolePrinter)
    printer.set(bold=True)
    printer.text("Entrega N.º 12\nProductor p001\n")
    printer.cut()
    assert stream.getvalue() == "Entrega N.º 12\nProductor p001\n"
    assert b"\x1dV" in printer.output          # the ESC/POS cut a printer would get


def test_file_printer_writes_escpos(tmp_path):
    target = tmp_path / "lp0"
    printer = open_printer(PrinterConfig(kind="file", port=str(target)))
    printer.text("Total 20.00 L\n")
    printer.cut()
    printer.close()
    data = target.read_bytes()
    assert b"Total 20.00 L\n" in data and data.endswith(b"\x1dV\x00")


def test_no_printer():
    assert isinstance(open_printer(PrinterConfig()), NoPrinter)
