# The sensor bridge's logic, MicroPython and CPython alike (no f-strings,
# no typing, no dataclasses): tests run it on the host with a fake `machine`.
#
# It only samples and stamps (Klipper's split): raw HX711 counts and DS18B20
# millidegrees go out as checksummed, sequence-numbered lines; calibration,
# tare, stability and every decision stay on the station
# (collector_station/instruments/protocols/bridge.py parses these lines).

VERSION = "1.0.0"
HX711_TIMEOUT_MS = 500       # DOUT not low for this long: amplifier unplugged
HX711_PERIOD_MS = 100        # 10 Hz: the HX711's slow rate (RATE pin low)
TEMP_PERIOD_MS = 2000
CONVERSION_MS = 750          # DS18B20 12-bit conversion time

# MicroPython's millisecond clock wraps: on the RP2040 port ticks_ms() counts
# modulo 2**30 (about 12.4 days). Times are only ever compared through
# ticks_diff, as MicroPython's time.ticks_diff does; a plain subtraction goes
# negative at the wrap and would stop every sample for good.
TICKS_PERIOD = 1 << 30


def ticks_diff(end, start):
    """end - start in ms across the wrap: a signed value in [-2**29, 2**29)."""
    half = TICKS_PERIOD // 2
    return ((end - start + half) % TICKS_PERIOD) - half


def ticks_add(ticks, delta):
    return (ticks + delta) % TICKS_PERIOD


def checksum(body):
    value = 0
    for byte in body:
        value ^= byte
    return "%02X" % value


def frame(*fields):
    """One line: $TYPE,seq,...*XX\\r\\n (bytes)."""
    body = ",".join(str(f) for f in fields).encode()
    return b"$" + body + b"*" + checksum(body).encode() + b"\r\n"


def rom_id(rom):
    """The Linux w1 name of a ROM code: family, then the serial MSB first."""
    return "%02x-" % rom[0] + "".join("%02x" % b for b in reversed(rom[1:7]))


class HX711:
    """Bit-banged HX711 on two pins (channel A, gain 128)."""

    def __init__(self, sck, dout):
        self.sck = sck
        self.dout = dout
        self.sck.value(0)

    def ready(self):
        return self.dout.value() == 0

    def read(self):
        """One 24-bit two's-complement sample; call only when ready()."""
        value = 0
        for _ in range(24):
            self.sck.value(1)
            self.sck.value(0)
            value = (value << 1) | self.dout.value()
        # A 25th pulse selects channel A, gain 128 for the next conversion.
        self.sck.value(1)
        self.sck.value(0)
        if value & 0x800000:
            value -= 0x1000000
        return value


class Bridge:
    """Schedules the samples; `poll(now_ms)` returns the lines to send now.

    `now_ms` is the raw `time.ticks_ms()` value, wrapping at TICKS_PERIOD;
    lines carry it as their uptime stamp."""

    def __init__(self, hx711, sensors=None):
        self.hx711 = hx711
        self.sensors = sensors          # a ds18x20.DS18X20, or None
        self.roms = []
        self.seq = 0
        self.started = False
        self._last_lc = None
        self._waiting_since = None
        self._hx_failed = False
        self._last_temp = None
        self._converting_since = None

    def _line(self, *fields):
        line = frame(fields[0], self.seq, *fields[1:])
        self.seq = (self.seq + 1) % 65536
        return line

    def poll(self, now_ms):
        out = []
        if not self.started:
            self.started = True
            out.append(self._line("HELLO", VERSION))
            if self.sensors is not None:
                self.roms = self.sensors.scan()
                if not self.roms:
                    out.append(self._line("ERR", "no_probes"))
        out.extend(self._poll_load_cell(now_ms))
        out.extend(self._poll_temperatures(now_ms))
        return out

    def _poll_load_cell(self, now_ms):
        if self._last_lc is not None and ticks_diff(now_ms, self._last_lc) < HX711_PERIOD_MS:
            return []
        if not self.hx711.ready():
            if self._waiting_since is None:
                self._waiting_since = now_ms
            elif ticks_diff(now_ms, self._waiting_since) >= HX711_TIMEOUT_MS and not self._hx_failed:
                self._hx_failed = True        # said once, until it answers again
                return [self._line("ERR", "hx711_timeout")]
            return []
        self._waiting_since = None
        self._hx_failed = False
        self._last_lc = now_ms
        return [self._line("LC", now_ms, self.hx711.read())]

    def _poll_temperatures(self, now_ms):
        if self.sensors is None or not self.roms:
            return []
        if self._converting_since is None:
            if self._last_temp is None or ticks_diff(now_ms, self._last_temp) >= TEMP_PERIOD_MS:
                # The period runs from conversion start, so samples stay 2 s apart.
                self.sensors.convert_temp()
                self._converting_since = now_ms
                self._last_temp = now_ms
            return []
        if ticks_diff(now_ms, self._converting_since) < CONVERSION_MS:
            return []
        self._converting_since = None
        out = []
        for rom in self.roms:
            try:
                temp_c = self.sensors.read_temp(rom)
            except Exception:        # CRC error on the bus: skip this sample
                out.append(self._line("ERR", "crc_" + rom_id(rom)))
                continue
            if temp_c is None:
                continue
            out.append(self._line("TMP", now_ms, rom_id(rom), int(round(temp_c * 1000))))
        return out
