"""DS18B20 readings in the Linux 1-Wire sysfs text format: pure parsing, no I/O.

The probe device (devices.DS18B20) reads the files; this decodes their text.
"""

from __future__ import annotations

POWER_ON_MILLI_C = 85000


def parse_w1_slave(text: str) -> tuple[float | None, str]:
    """Decode a `w1_slave` read: (temp_c, "ok") or (None, reason).

    The 85 °C power-on value is not a reading; a `crc=.. NO` line is noise.
    """
    lines = text.strip().splitlines()
    if len(lines) < 2 or "crc=" not in lines[0]:
        return None, "malformed"
    if not lines[0].rstrip().endswith("YES"):
        return None, "crc"
    _, sep, milli = lines[1].rpartition("t=")
    if not sep:
        return None, "malformed"
    try:
        value = int(milli.strip())
    except ValueError:
        return None, "malformed"
    if value == POWER_ON_MILLI_C:
        return None, "power_on_value"
    return value / 1000.0, "ok"
