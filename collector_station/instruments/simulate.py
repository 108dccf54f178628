"""Virtual instruments for the demo, the tests and a technician's bench trial.

Each one stands where the real thing would: the scale and the densimeter on
pseudo-terminals (reached through stable symlinks in the simulation folder,
as udev gives `/dev/milk-scale` on a Pi) and the tank probes as a fake
1-Wire folder in the sysfs layout. The station's real drivers read them.

Every instrument format has its simulator, declared by its own module
(protocols/*.py, `Instrument.weight_frame` / `analysis_frame`): the scale
speaks any weighing format (MT-SICS answers polls), the analyzer any
analysing one; nothing here names a format. A can swings (motion, noise)
before it settles; garbage and unplugging can be switched on; tanks follow
Newton cooling, with one or more probes each.

The virtual instruments write to any port with `write` and `read_commands`:
a PtyPort for the station's real serial path, or a transport.FakeLine in a
synchronous test (then call `VirtualScale.tick()` instead of `start()`).
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from collector_station.instruments.protocols import (
    ANALYSIS_FORMATS,
    INSTRUMENTS,
    WEIGHT_FORMATS,
    MilkSample,
    ScaleDisplay,
)
from collector_station.instruments.protocols.ad import frame as ad_frame
from collector_station.instruments.protocols.bridge import (
    SIM_COUNTS_PER_KG as HX711_COUNTS_PER_KG,
)
from collector_station.instruments.protocols.bridge import (
    SIM_OFFSET_COUNTS as HX711_OFFSET_COUNTS,
)

SCALE_FORMATS = WEIGHT_FORMATS
ANALYZER_FORMATS = ANALYSIS_FORMATS
# Line settings the simulated instruments would have on a real line (a pty
# ignores them; the written config shows the technician what to expect).
LINE = {name: (i.line.baudrate, i.line.bytesize, i.line.parity) for name, i in INSTRUMENTS.items()}


class PtyPort:
    """The instrument's end of a pseudo-terminal; `path` is what the station opens."""

    def __init__(self, link: Path) -> None:
        self.link = Path(link)
        self._lock = threading.Lock()
        self.master_fd: int | None = None
        self._slave_fd: int | None = None
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        # Raw mode before anyone opens it: no echo, no line editing of frames.
        tty.setraw(slave)
        os.set_blocking(master, False)
        with self._lock:
            self.master_fd, self._slave_fd = master, slave
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(slave))

    def unplug(self) -> None:
        """The USB cable is pulled: the port disappears."""
        with self._lock:
            fds = (self.master_fd, self._slave_fd)
            self.master_fd = self._slave_fd = None
        self.link.unlink(missing_ok=True)
        for fd in fds:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.master_fd is None:
                return
            try:
                os.write(self.master_fd, data)
            except (BlockingIOError, OSError):
                pass  # nobody reading: a real indicator's bytes are lost too

    def read_commands(self) -> bytes:
        with self._lock:
            if self.master_fd is None:
                return b""
            try:
                return os.read(self.master_fd, 256)
            except (BlockingIOError, OSError):
                return b""

    @property
    def path(self) -> str:
        return str(self.link)


class VirtualScale:
    """A weighing indicator streaming (or, if it only answers, answering) frames.

    A can put on the scale swings (unstable frames with noise) for
    `settle_s`, then reads stable; `garbage_every` sprinkles line noise.
    `fmt` picks the indicator: any weighing format of the registry. Commands
    the station sends are matched against the format's declared commands:
    `tare` and `zero` act on the simulated tare, and an instrument with a
    `command_reply` (MT-SICS) answers them.
    """

    def __init__(self, port, *, frame_interval_s: float = 0.05, settle_s: float = 0.5,
                 noise_kg: float = 0.3, garbage_every: int = 0, seed: int | None = None,
                 fmt: str = "ad", clock: Callable[[], float] = time.monotonic) -> None:
        if fmt not in SCALE_FORMATS:
            raise ValueError(f"no simulated scale for format {fmt!r}")
        self.port = port
        self.fmt = fmt
        self.spec = INSTRUMENTS[fmt]
        self.frame_interval_s = frame_interval_s
        self.settle_s = settle_s
        self.noise_kg = noise_kg
        self.garbage_every = garbage_every
        self.random = random.Random(seed)
        self.clock = clock
        self.load_kg = 0.0
        self.tare_kg = 0.0
        self.overload = False
        self.commands_seen: list[bytes] = []
        self._settled_at = 0.0
        self._frames = 0
        self._seq = 0
        self._pending = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="virtual-scale", daemon=True)

    def start(self) -> VirtualScale:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def place(self, kg: float) -> None:
        self.load_kg = kg
        self._settled_at = self.clock() + self.settle_s

    def remove(self) -> None:
        self.load_kg = 0.0
        self._settled_at = self.clock() + self.settle_s / 2

    @property
    def settled(self) -> bool:
        return self.clock() >= self._settled_at

    def reading(self) -> tuple[float, bool]:
        """(net kg as displayed, stable?) right now."""
        net = self.load_kg - self.tare_kg
        if not self.settled:
            return net + self.random.uniform(-self.noise_kg, self.noise_kg), False
        return net, True

    def display(self) -> ScaleDisplay:
        """What the indicator shows right now, for its format's frame builder."""
        kg, stable = self.reading()
        self._seq = (self._seq + 1) % 65536
        return ScaleDisplay(kg, self.tare_kg, stable, self.overload, self._seq,
                            int(self.clock() * 1000))

    def current_frame(self) -> bytes:
        return self.spec.weight_frame(self.display(), self.random)

    def _actions(self, received: bytes) -> list[str | None]:
        """The actions the received bytes name, in order (None: not understood).

        Bytes that may still become a command wait for the rest.
        """
        self._pending += received
        known = {data: action for action, data in self.spec.commands.items()}
        actions: list[str | None] = []
        while self._pending:
            data = next((d for d in known if self._pending.startswith(d)), None)
            if data is not None:
                actions.append(known[data])
                self._pending = self._pending[len(data):]
            elif any(d.startswith(self._pending) for d in known):
                break
            else:
                # An unknown command: up to its line end, or one byte if unframed.
                end = self._pending.find(b"\n")
                cut = end + 1 if end >= 0 else 1
                if self._pending[:cut].strip() and (not actions or actions[-1] is not None):
                    actions.append(None)
                self._pending = self._pending[cut:]
        return actions

    def _handle(self, commands: bytes) -> bytes:
        """Carry out what the station sent; returns the bytes to answer."""
        self.commands_seen.append(commands)
        out = b""
        for action in self._actions(commands):
            if action == "tare":
                self.tare_kg = self.load_kg
            elif action == "zero":
                self.tare_kg = 0.0
            if self.spec.command_reply is not None:
                out += self.spec.command_reply(action, self.display(), self.random)
        return out

    def tick(self) -> None:
        """One frame interval: answer what the station sent, stream a frame
        (instruments that only answer polls stream nothing), now and then noise."""
        commands = self.port.read_commands()
        data = self._handle(commands) if commands else b""
        if self.spec.poll is None:
            data += self.current_frame()
        self._frames += 1
        if self.garbage_every and self._frames % self.garbage_every == 0:
            data = bytes(self.random.randrange(256) for _ in range(7)) + b"\r\n" + data
        if data:
            self.port.write(data)

    def _run(self) -> None:
        while not self._stop.wait(self.frame_interval_s):
            self.tick()


class VirtualDensimeter:
    """The densimeter or analyzer: one result per measured sample, in the
    frames its format's module builds. An analyzer that measures on request
    (`needs_trigger`, Ekomilk) sends the result again for each request."""

    def __init__(self, port, fmt: str = "bridge") -> None:
        if fmt not in ANALYZER_FORMATS:
            raise ValueError(f"no simulated analyzer for format {fmt!r}")
        self.port = port
        self.fmt = fmt
        self.spec = INSTRUMENTS[fmt]
        self.seq = 0
        self._last_frame = b""

    def measure(self, density_g_ml: float, temp_c: float, compensated: bool = False, *,
                fat_pct: float = 3.6, snf_pct: float = 8.6) -> None:
        self.seq = (self.seq + 1) % 65536
        self._last_frame = self.spec.analysis_frame(
            MilkSample(density_g_ml, temp_c, compensated, fat_pct, snf_pct, self.seq))
        self.port.write(self._last_frame)

    def answer_requests(self) -> None:
        """An analyzer measuring on request: answer a pending request with the last result."""
        if self.spec.needs_trigger and self.port.read_commands() and self._last_frame:
            self.port.write(self._last_frame)


def w1_slave_text(temp_c: float, crc_ok: bool = True) -> str:
    milli = round(temp_c * 1000)
    raw = "72 01 4b 46 7f ff 0e 10 57"
    return f"{raw} : crc=57 {'YES' if crc_ok else 'NO'}\n{raw} t={milli}\n"


class VirtualTank:
    """A cooling tank's DS18B20 in a fake 1-Wire folder, following Newton cooling.

    `add_milk` warms the blend; the compressor pulls it towards `setpoint_c`
    with time constant `tau_s`; `compressor_ok = False` lets it drift up.
    `extra_probes` are more DS18B20s in the same tank (the top one reads a
    little warmer); `glitch` plays the 1-Wire traps of devices.md.
    """

    STRATIFICATION_C = 0.3

    def __init__(self, w1_dir: Path, sensor_id: str, *, start_c: float = 4.0,
                 setpoint_c: float = 3.5, tau_s: float = 1800.0,
                 extra_probes: tuple[str, ...] = (), temperature_file: bool = False) -> None:
        self.w1_dir = Path(w1_dir)
        self.dir = self.w1_dir / sensor_id
        self.sensor_id = sensor_id
        self.sensor_ids = (sensor_id, *extra_probes)
        self.temperature_file = temperature_file
        self.unplugged: set[str] = set()
        for sid in self.sensor_ids:
            (self.w1_dir / sid).mkdir(parents=True, exist_ok=True)
        self.temp_c = start_c
        self.setpoint_c = setpoint_c
        self.tau_s = tau_s
        self.compressor_ok = True
        self.volume_l = 0.0
        self.write()

    def add_milk(self, liters: float, temp_c: float) -> None:
        total = self.volume_l + liters
        self.temp_c = (self.temp_c * self.volume_l + temp_c * liters) / total if total else temp_c
        self.volume_l = total
        self.write()

    def advance(self, seconds: float, ambient_c: float = 18.0) -> None:
        if self.compressor_ok:
            self.temp_c = self.setpoint_c + (self.temp_c - self.setpoint_c) * math.exp(-seconds / self.tau_s)
        else:  # about 1 °C/day well insulated, faster here: a failing compressor
            self.temp_c += (ambient_c - self.temp_c) * (1 - math.exp(-seconds / (self.tau_s * 8)))
        self.write()

    def write(self, *, crc_ok: bool = True, power_on: bool = False) -> None:
        for i, sid in enumerate(self.sensor_ids):
            if sid in self.unplugged:
                continue
            temp_c = 85.0 if power_on else self.temp_c + i * self.STRATIFICATION_C
            folder = self.w1_dir / sid
            if self.temperature_file:
                name, content = "temperature", f"{round(temp_c * 1000)}\n"
            else:
                name, content = "w1_slave", w1_slave_text(temp_c, crc_ok)
            tmp = folder / f"{name}.tmp"
            tmp.write_text(content)
            os.replace(tmp, folder / name)

    def glitch(self, kind: str, sensor_id: str | None = None) -> None:
        """crc (a `crc=.. NO` read), power_on (85 °C), unplug, plug, or ok (back to normal)."""
        sid = sensor_id or self.sensor_id
        if kind == "unplug":
            self.unplugged.add(sid)
            for f in (self.w1_dir / sid).glob("*"):
                f.unlink()
            (self.w1_dir / sid).rmdir()
        elif kind == "plug":
            self.unplugged.discard(sid)
            (self.w1_dir / sid).mkdir(parents=True, exist_ok=True)
            self.write()
        elif kind == "crc":
            self.write(crc_ok=False)
        elif kind == "power_on":
            self.write(power_on=True)
        else:
            self.write()


class SimulatedBench:
    """A scale, a densimeter and tank probes in one folder, ready for a station."""

    def __init__(self, folder: Path, *, tanks: int = 1, seed: int | None = None,
                 frame_interval_s: float = 0.05, settle_s: float = 0.5, scale_format: str = "ad",
                 analyzer_format: str = "bridge", probes_per_tank: int = 1,
                 garbage_every: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scale_format = scale_format
        self.analyzer_format = analyzer_format
        self.scale_port = PtyPort(self.folder / "scale")
        self.densimeter_port = PtyPort(self.folder / "densimeter")
        self.scale = VirtualScale(self.scale_port, frame_interval_s=frame_interval_s,
                                  settle_s=settle_s, seed=seed, fmt=scale_format,
                                  garbage_every=garbage_every)
        self.densimeter = VirtualDensimeter(self.densimeter_port, analyzer_format)
        self.w1_dir = self.folder / "w1"
        self.tanks = {
            f"tank{i + 1}": VirtualTank(
                self.w1_dir, f"28-00000000{i + 1:04x}",
                extra_probes=tuple(f"28-0000000{p:01x}{i + 1:04x}" for p in range(1, probes_per_tank)))
            for i in range(tanks)}

    def start(self) -> SimulatedBench:
        self.scale.start()
        return self

    def stop(self) -> None:
        self.scale.stop()
        self.scale_port.unplug()
        self.densimeter_port.unplug()

    def station_config_text(self, *, center: str, station: str, mqtt_port: int,
                            data_dir: str, stable_window_s: float = 0.3, access: str = "") -> str:
        """A station.toml pointing at these devices. `access` is the `[mqtt]` +
        `[integrity]` fragment `milk-hub provision station` printed (broker
        address, TLS, login, HMAC key); it replaces the plain `[mqtt]` part."""
        mqtt_part = access.strip() + "\n" if access else \
            f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
        tanks = "\n".join(
            f'{name} = "{t.sensor_id}"' if len(t.sensor_ids) == 1 else
            f'{name} = [{", ".join(chr(34) + sid + chr(34) for sid in t.sensor_ids)}]'
            for name, t in self.tanks.items())
        # A pseudo-terminal carries bytes whatever the line settings, and Linux
        # refuses to reopen one configured with parity (tcsetattr EINVAL), so
        # a restarted station could not reopen it: simulated ports use 8N1.
        # The real settings of each instrument are in LINE (and the docs).
        sbaud, sbits, sparity = LINE[self.scale_format][0], 8, "N"
        abaud, abits, aparity = LINE[self.analyzer_format][0], 8, "N"
        # The extra keys a simulated instrument needs (a raw load cell's calibration).
        calibration = "".join(f"{key} = {value}\n"
                              for key, value in INSTRUMENTS[self.scale_format].sim_config.items())
        return f'''# Generated by `collector-station simulate`.
center = "{center}"
station = "{station}"
language = "es"
timezone = "America/Lima"
data_dir = "{data_dir}"

{mqtt_part}
[scale]
port = "{self.scale_port.path}"
format = "{self.scale_format}"
baudrate = {sbaud}
bytesize = {sbits}
parity = "{sparity}"
stable_window_s = {stable_window_s}
poll_interval_s = 0.05
{calibration}
[densimeter]
port = "{self.densimeter_port.path}"
format = "{self.analyzer_format}"
baudrate = {abaud}
bytesize = {abits}
parity = "{aparity}"

[thermometers]
w1_dir = "{self.w1_dir}"
interval_s = 30
batch_size = 10

[thermometers.tanks]
{tanks}

# A simulated bench keeps simulated time: never refuse on the clock (docs/clock.md).
[clock]
require_sync = "off"
'''


def typical_can(rng: random.Random) -> tuple[float, float, float]:
    """(kg, density g/mL at the bench, milk temperature °C) of a plausible can."""
    return (round(rng.uniform(8.0, 45.0), 2), round(rng.gauss(1.0305, 0.0012), 4),
            round(rng.uniform(12.0, 24.0), 1))


def run_forever(bench: SimulatedBench, interval_s: float, seed: int | None = None,
                stop: threading.Event | None = None, glitches: bool = False) -> None:
    """Producers arrive every `interval_s`: a can goes on, is measured, comes off.

    With `glitches`, now and then the scale's cable is pulled for a few
    seconds and a tank probe gives a bad read, as at a real bench.
    """
    rng = random.Random(seed)
    stop = stop or threading.Event()
    while not stop.is_set():
        if glitches and rng.random() < 0.1:
            bench.scale_port.unplug()
            stop.wait(rng.uniform(1.0, 4.0))
            bench.scale_port.plug()
        if glitches and bench.tanks and rng.random() < 0.1:
            rng.choice(list(bench.tanks.values())).glitch(rng.choice(["crc", "power_on"]))
        kg, density, temp = typical_can(rng)
        bench.scale.place(kg)
        stop.wait(bench.scale.settle_s)
        bench.densimeter.measure(density, temp)
        for tank in bench.tanks.values():
            tank.add_milk(kg / density, temp)
        stop.wait(max(interval_s - bench.scale.settle_s, 1.0) * 0.7)
        bench.scale.remove()
        for tank in bench.tanks.values():
            tank.advance(interval_s)
        stop.wait(max(interval_s * 0.3, 0.5))


__all__ = [
    "ANALYZER_FORMATS",
    "HX711_COUNTS_PER_KG",
    "HX711_OFFSET_COUNTS",
    "LINE",
    "SCALE_FORMATS",
    "PtyPort",
    "SimulatedBench",
    "VirtualDensimeter",
    "VirtualScale",
    "VirtualTank",
    "ad_frame",
    "run_forever",
    "typical_can",
    "w1_slave_text",
]
