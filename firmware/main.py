# MicroPython entry point on the Raspberry Pi Pico: copy bridge_core.py and
# this file to the board (see README.md). Lines go out on USB serial.
import sys
import time

import ds18x20
import onewire
from bridge_core import HX711, Bridge
from machine import Pin

HX711_SCK_PIN = 2     # GP2 -> HX711 SCK
HX711_DOUT_PIN = 3    # GP3 <- HX711 DOUT
ONEWIRE_PIN = 4       # GP4 <-> DS18B20 DQ (4.7 kOhm pull-up to 3V3)


def main():
    hx = HX711(Pin(HX711_SCK_PIN, Pin.OUT), Pin(HX711_DOUT_PIN, Pin.IN, Pin.PULL_UP))
    sensors = ds18x20.DS18X20(onewire.OneWire(Pin(ONEWIRE_PIN)))
    bridge = Bridge(hx, sensors)
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout
    while True:
        # The raw clock: Bridge compares times with ticks_diff, so the wrap
        # of ticks_ms() every 2**30 ms is harmless.
        for line in bridge.poll(time.ticks_ms()):
            out.write(line)
        time.sleep_ms(5)


main()
