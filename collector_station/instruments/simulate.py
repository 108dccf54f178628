"""Virtual instruments for the demo, the tests and a technician's bench trial.

Each one stands where the real thing would: the scale and the densimeter on
pseudo-terminals (reached through stable symlinks in the simulation folder,
as udev gives `/dev/milk-scale` on a Pi) and the tank probes as a fake
1-Wire folder in the sysfs layout. The station's real drivers read them.

Every instrument format has its simulator: the scale speaks `ad`, `sics`
(answers polls), `toledo`, `simple` or `bridge` (raw HX711 counts); the
analyzer speaks `bridge` (densimeter line), `lactoscan` or `ekomilk`. A can
swings (motion, noise) before it settles; garbage and unplugging can be
switched on; tanks follow Newton cooling, with one or more probes each.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import tty
from pathlib import Path

from collector_station.instruments.protocols import ekomilk, lactoscan, toledo
from collector_station.instruments.protocols.bridge import frame

SCALE_FORMATS = ("ad", "sics", "toledo", "simple", "bridge")
ANALYZER_FORMATS = ("bridge", "lactoscan", "ekomilk")
# Line settings the simulated instruments would have on a real line (a pty
# ignores them; the written config shows the technician what to expect).
LINE = {"ad": (9600, 7, "E"), "sics": (9600, 8, "N"), "toledo": (9600, 7, "E"),
        "simple": (9600, 8, "N"), "bridge": (115200, 8, "N"), "lactoscan": (9600, 8, "N"),
        "ekomilk": (1200, 8, "E")}
# The simulated HX711: counts per kg and the empty platform's reading.
HX711_COUNTS_PER_KG = 21000
HX711_OFFSET_COUNTS = 84210


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


def ad_frame(header: str, value_kg: float, mode: str = "GS") -> bytes:
    sign = "+" if value_kg >= 0 else "-"
    return f"{header},{mode},{sign}{abs(value_kg):08.2f} kg\r\n".encode()


class VirtualScale:
    """A weighing indicator streaming (or, for MT-SICS, answering) frames.

    A can put on the scale swings (unstable frames with noise) for
    `settle_s`, then reads stable; `garbage_every` sprinkles line noise.
    `fmt` picks the indicator: ad, sics, toledo, simple or bridge (HX711).
    """

    def __init__(self, port: PtyPort, *, frame_interval_s: float = 0.05, settle_s: float = 0.5,
                 noise_kg: float = 0.3, garbage_every: int = 0, seed: int | None = None,
                 fmt: str = "ad") -> None:
        if fmt not in SCALE_FORMATS:
            raise ValueError(f"no simulated scale for format {fmt!r}")
        self.port = port
        self.fmt = fmt
        self.frame_interval_s = frame_interval_s
        self.settle_s = settle_s
        self.noise_kg = noise_kg
        self.garbage_every = garbage_every
        self.random = random.Random(seed)
        self.load_kg = 0.0
        self.tare_kg = 0.0
        self.overload = False
        self.commands_seen: list[bytes] = []
        self._settled_at = 0.0
        self._frames = 0
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
        self._settled_at = time.monotonic() + self.settle_s

    def remove(self) -> None:
        self.load_kg = 0.0
        self._settled_at = time.monotonic() + self.settle_s / 2

    @property
    def settled(self) -> bool:
        return time.monotonic() >= self._settled_at

    def reading(self) -> tuple[float, bool]:
        """(net kg as displayed, stable?) right now."""
        net = self.load_kg - self.tare_kg
        if not self.settled:
            return net + self.random.uniform(-self.noise_kg, self.noise_kg), False
        return net, True

    def current_frame(self) -> bytes:
        kg, stable = self.reading()
        if self.fmt == "ad":
            if self.overload:
                return b"OL,GS,+9999999 kg\r\n"
            return ad_frame("ST" if stable else "US", kg)
        if self.fmt == "sics":
            if self.overload:
                return b"S +\r\n"
            return f"S {'S' if stable else 'D'} {kg:10.2f} kg\r\n".encode()
        if self.fmt == "toledo":
            return toledo.build_frame(int(round(abs(kg) * 100)), int(round(self.tare_kg * 100)),
                                      swa=toledo.swa_for_decimals(2), net=self.tare_kg > 0,
                                      negative=kg < 0, error=self.overload, motion=not stable)
        if self.fmt == "simple":
            return f"{'+' if kg >= 0 else '-'}{abs(kg):07.2f}Kg\r\n".encode()
        # HX711 through the bridge: raw counts with a little electrical noise,
        # the tare is the host's business (the firmware knows no kilograms).
        self._frames_seq = (getattr(self, "_frames_seq", 0) + 1) % 65536
        raw = HX711_OFFSET_COUNTS + int(round((kg + self.tare_kg) * HX711_COUNTS_PER_KG)) \
            + self.random.randint(-40, 40)
        if self.overload:
            return frame("ERR", self._frames_seq, "hx711_saturated")
        return frame("LC", self._frames_seq, int(time.monotonic() * 1000) % 2**31, raw)

    def _handle(self, commands: bytes) -> bytes:
        """Answer what the station sent; returns bytes to write."""
        self.commands_seen.append(commands)
        out = b""
        if self.fmt == "sics":
            self._pending += commands
            while b"\n" in self._pending:
                line, _, self._pending = self._pending.partition(b"\n")
                cmd = line.strip()
                if cmd in (b"SI", b"S"):
                    out += self.current_frame()
                elif cmd == b"T":
                    self.tare_kg = self.load_kg
                    out += f"T S {self.tare_kg:10.2f} kg\r\n".encode()
                elif cmd == b"Z":
                    self.tare_kg = 0.0
                    out += b"Z A\r\n"
                else:
                    out += b"ES\r\n"
            return out
        if self.fmt in ("ad", "toledo"):
            if b"T" in commands:
                self.tare_kg = self.load_kg
            if b"Z" in commands:
                self.tare_kg = 0.0
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.frame_interval_s):
            commands = self.port.read_commands()
            data = self._handle(commands) if commands else b""
            if self.fmt != "sics":      # MT-SICS only answers
                data += self.current_frame()
            self._frames += 1
            if self.garbage_every and self._frames % self.garbage_every == 0:
                data = bytes(self.random.randrange(256) for _ in range(7)) + b"\r\n" + data
            if data:
                self.port.write(data)


class VirtualDensimeter:
    """The densimeter or analyzer: one result per measured sample.

    `bridge`: the project's densimeter line (`$DEN`); `lactoscan`: a result
    frame, after a rinse notice now and then; `ekomilk`: the acknowledgement
    and the BCD answer (sent when measured, and again on each request).
    """

    def __init__(self, port: PtyPort, fmt: str = "bridge") -> None:
        if fmt not in ANALYZER_FORMATS:
            raise ValueError(f"no simulated analyzer for format {fmt!r}")
        self.port = port
        self.fmt = fmt
        self.seq = 0
        self._last_answer = b""

    def measure(self, density_g_ml: float, temp_c: float, compensated: bool = False, *,
                fat_pct: float = 3.6, snf_pct: float = 8.6) -> None:
        self.seq = (self.seq + 1) % 65536
        if self.fmt == "bridge":
            self.port.write(frame("DEN", self.seq, f"{density_g_ml:.4f}", f"{temp_c:.1f}",
                                  "C" if compensated else "R"))
            return
        clr = round((density_g_ml - 1) * 1000, 2)
        if self.fmt == "lactoscan":
            if self.seq % 10 == 0:
                self.port.write(b"RIN\r")
            self.port.write(lactoscan.result_line(
                f"{fat_pct:.2f}", f"{snf_pct:.2f}", f"{clr:.2f}", "4.20", "0.70", "3.20",
                f"{temp_c:.1f}", "0.00", "-0.540", 1, 12345, "6.65", "4.80"))
            return
        self._last_answer = ekomilk.build_answer(round(fat_pct, 2), round(snf_pct, 2), clr, 0,
                                                 -0.540, 3.2, 4.8, 25)
        self.port.write(b"1" + self._last_answer)

    def answer_requests(self) -> None:
        """Ekomilk: answer a pending 71-byte request with the last result."""
        if self.fmt == "ekomilk" and self.port.read_commands() and self._last_answer:
            self.port.write(b"1" + self._last_answer)


def w1_slave_text(temp_c: float, crc_ok: bool = True) -> str:
    milli = int(round(temp_c * 1000))
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
                name, content = "temperature", f"{int(round(temp_c * 1000))}\n"
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
                            data_dir: str, stable_window_s: float = 0.3) -> str:
        """A station.toml pointing at these devices."""
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
        calibration = (f"counts_per_kg = {HX711_COUNTS_PER_KG}\noffset_counts = {HX711_OFFSET_COUNTS}\n"
                       if self.scale_format == "bridge" else "")
        return f'''# Generated by `collector-station simulate`.
center = "{center}"
station = "{station}"
language = "es"
timezone = "America/Lima"
data_dir = "{data_dir}"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}

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
