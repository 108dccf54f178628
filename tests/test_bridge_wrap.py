"""The station's side of the bridge's wrapping clock: the Pico stamps its
lines with the raw ticks_ms(), which jumps from 2**30 - 1 back to 0 after
12.4 days. The station reads those stamps as they come and times stability
with its own clock, so weighing goes on across the wrap."""

import sys
from decimal import Decimal as D
from pathlib import Path

from collector_station.config import ScaleConfig
from collector_station.instruments.devices import Scale
from collector_station.instruments.protocols import bridge
from collector_station.instruments.protocols.spec import ScaleDisplay
from collector_station.instruments.transport import FakeLine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware"))
import bridge_core


def test_a_scale_on_the_bridge_weighs_across_the_tick_wrap():
    line = FakeLine("fake://bridge")
    now = [0.0]
    config = ScaleConfig(port=line.path, format="bridge", stable_window_s=0.3,
                         counts_per_kg=D(21000), offset_counts=1000)
    scale = Scale.from_config(config, transport=line, clock=lambda: now[0])
    assert scale.instrument.connect()
    ticks = bridge_core.ticks_add(2**30 - 1, -1500)        # the wrap 1.5 s in
    stamps, stable = [], []
    for seq in range(40):                                   # 4 s at 10 Hz
        line.write(bridge_core.frame("LC", seq, ticks, 1000 + 21000 * 12 + (seq % 3) * 20))
        stamps.append(ticks)
        ticks = bridge_core.ticks_add(ticks, 100)
        now[0] += 0.1
        scale.instrument.step()
        stable.append(scale.stable_kg)
    assert max(stamps) > 2**30 - 200 and min(stamps) < 200       # it did wrap
    after_wrap = stable[stamps.index(min(stamps)):]
    assert after_wrap and all(kg == D("12.00") for kg in after_wrap)
    status = scale.instrument.status_dict()
    assert status["parse_errors"] == 0 and status["parser_bugs"] == 0
    assert scale.instrument.parser.lost_lines == 0


def test_the_simulated_bridge_wraps_like_the_pico():
    import random
    line = bridge.weight_frame(ScaleDisplay(net_kg=5.0, uptime_ms=2**30 + 42), random.Random(1))
    assert line.split(b",")[2] == b"42"
