"""The bench panel: buttons, a green and a red LED, a buzzer, an optional relay.

gpiozero device classes over its pin factory: on the Pi the default factory
(lgpio), in tests `gpiozero.pins.mock.MockFactory` (callbacks fire
synchronously, no sleeps). Events are attributes as in gpiozero
(`panel.when_accept = station.accept`); outputs are plain-language methods.

Pins come from the `[panel]` config section (BCM numbers); a pin left out
(0) means that part is not fitted and its event never fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gpiozero import LED, Button, Buzzer, Device, OutputDevice

log = logging.getLogger(__name__)

BUTTONS = ("accept", "reject", "tare", "alcohol_pass", "alcohol_fail")


class BenchPanel:
    """The operator's buttons and lights at one intake bench.

    Events (set to a callable taking no arguments, or None):
    `when_accept`, `when_reject`, `when_tare`, `when_alcohol_pass`,
    `when_alcohol_fail`. Outputs: `show_accepted()`, `show_rejected()`,
    `alarm(on)`, `relay` (None when not fitted), `all_off()`.
    """

    SHORT_BEEP_S = 0.15
    LONG_BEEP_S = 1.0

    def __init__(self, config, pin_factory=None) -> None:
        self.config = config
        self.when_accept: Callable[[], None] | None = None
        self.when_reject: Callable[[], None] | None = None
        self.when_tare: Callable[[], None] | None = None
        self.when_alcohol_pass: Callable[[], None] | None = None
        self.when_alcohol_fail: Callable[[], None] | None = None
        self.alarm_on = False
        self._devices: list[Device] = []
        self.buttons: dict[str, Button] = {}
        bounce = config.bounce_s or None
        for name in BUTTONS:
            pin = getattr(config, f"{name}_pin")
            if not pin:
                continue
            # Reject may need a hold so a brushed button cannot refuse a producer's milk.
            hold = config.hold_s if name == "reject" and config.hold_s else None
            button = Button(pin, pull_up=True, bounce_time=bounce, pin_factory=pin_factory,
                            **({"hold_time": hold} if hold else {}))
            if hold:
                button.when_held = self._dispatcher(name)
            else:
                button.when_pressed = self._dispatcher(name)
            self.buttons[name] = button
            self._devices.append(button)
        self.green = self._output(LED, config.green_led_pin, pin_factory)
        self.red = self._output(LED, config.red_led_pin, pin_factory)
        self.buzzer = self._output(Buzzer, config.buzzer_pin, pin_factory)
        self.relay = self._output(OutputDevice, config.relay_pin, pin_factory,
                                  active_high=config.relay_active_high, initial_value=False)

    def _output(self, cls, pin, pin_factory, **kwargs):
        if not pin:
            return None
        device = cls(pin, pin_factory=pin_factory, **kwargs)
        self._devices.append(device)
        return device

    def _dispatcher(self, name: str) -> Callable[[], None]:
        def fire() -> None:
            handler = getattr(self, f"when_{name}")
            if handler is None:
                return
            try:
                handler()
            except Exception:   # a handler's bug must not kill gpiozero's event thread
                log.exception("panel: handler for %s failed", name)
        return fire

    # -- outputs ----------------------------------------------------------
    def show_accepted(self) -> None:
        """Green LED for `led_on_s` and a short beep."""
        if self.red and not self.alarm_on:
            self.red.off()
        if self.green:
            self.green.blink(on_time=self.config.led_on_s, off_time=0, n=1)
        self._beep(self.SHORT_BEEP_S)

    def show_rejected(self) -> None:
        """Red LED for `led_on_s` and a long beep."""
        if self.green:
            self.green.off()
        if self.red and not self.alarm_on:
            self.red.blink(on_time=self.config.led_on_s, off_time=0, n=1)
        self._beep(self.LONG_BEEP_S)

    def alarm(self, on: bool) -> None:
        """Cold-chain alarm: red LED blinking and the buzzer pulsing until cleared."""
        self.alarm_on = on
        if on:
            if self.red:
                self.red.blink(on_time=0.5, off_time=0.5)
            if self.buzzer:
                self.buzzer.beep(on_time=0.5, off_time=1.5)
        else:
            if self.red:
                self.red.off()
            if self.buzzer:
                self.buzzer.off()

    def _beep(self, seconds: float) -> None:
        if self.buzzer and not self.alarm_on:
            self.buzzer.beep(on_time=seconds, off_time=0, n=1)

    def all_off(self) -> None:
        self.alarm_on = False
        for device in (self.green, self.red, self.buzzer, self.relay):
            if device is not None:
                device.off()

    def close(self) -> None:
        for device in self._devices:
            device.close()
        self._devices.clear()

    def __enter__(self) -> BenchPanel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
