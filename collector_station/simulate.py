"""Virtual instruments for the demo, the tests and a technician's bench trial.

Each one stands where the real thing would: the scale and the densimeter on
pseudo-terminals (reached through stable symlinks in the simulation folder,
as udev gives `/dev/milk-scale` on a Pi) and the tank probes as a fake
1-Wire folder in the sysfs layout. The station's real drivers read them.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
import tty
from pathlib import Path

from .protocols.bridge import frame


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
    """An A&D-style indicator streaming frames continuously.

    A can put on the scale swings (unstable frames with noise) for
    `settle_s`, then reads stable; `garbage_every` sprinkles line noise.
    """

    def __init__(self, port: PtyPort, *, frame_interval_s: float = 0.05, settle_s: float = 0.5,
                 noise_kg: float = 0.3, garbage_every: int = 0, seed: int | None = None) -> None:
        self.port = port
        self.frame_interval_s = frame_interval_s
        self.settle_s = settle_s
        self.noise_kg = noise_kg
        self.garbage_every = garbage_every
        self.random = random.Random(seed)
        self.load_kg = 0.0
        self.tare_kg = 0.0
        self.overload = False
        self._settled_at = 0.0
        self._frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="virtual-scale", daemon=True)

    def start(self) -> "VirtualScale":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def place(self, kg: float) -> None:
        self.load_kg = kg
        self._settled_at = time.monotonic() + self.settle_s

    def remove(self) -> None:
        self.load_kg = 0.0
        self._settled_at = time.monotonic() + self.settle_s / 2

    def current_frame(self) -> bytes:
        if self.overload:
            return b"OL,GS,+9999999 kg\r\n"
        net = self.load_kg - self.tare_kg
        if time.monotonic() < self._settled_at:
            return ad_frame("US", net + self.random.uniform(-self.noise_kg, self.noise_kg))
        return ad_frame("ST", net)

    def _run(self) -> None:
        while not self._stop.wait(self.frame_interval_s):
            commands = self.port.read_commands()
            if b"T" in commands:
                self.tare_kg = self.load_kg
            if b"Z" in commands:
                self.tare_kg = 0.0
            self._frames += 1
            data = self.current_frame()
            if self.garbage_every and self._frames % self.garbage_every == 0:
                data = bytes(self.random.randrange(256) for _ in range(7)) + b"\r\n" + data
            self.port.write(data)


class VirtualDensimeter:
    """The project's densimeter bridge: one `$DEN` line per measured sample."""

    def __init__(self, port: PtyPort) -> None:
        self.port = port
        self.seq = 0

    def measure(self, density_g_ml: float, temp_c: float, compensated: bool = False) -> None:
        self.seq = (self.seq + 1) % 65536
        self.port.write(frame("DEN", self.seq, f"{density_g_ml:.4f}", f"{temp_c:.1f}",
                              "C" if compensated else "R"))


def w1_slave_text(temp_c: float, crc_ok: bool = True) -> str:
    milli = int(round(temp_c * 1000))
    raw = "72 01 4b 46 7f ff 0e 10 57"
    return f"{raw} : crc=57 {'YES' if crc_ok else 'NO'}\n{raw} t={milli}\n"


class VirtualTank:
    """A cooling tank's DS18B20 in a fake 1-Wire folder, following Newton cooling.

    `add_milk` warms the blend; the compressor pulls it towards `setpoint_c`
    with time constant `tau_s`; `compressor_ok = False` lets it drift up.
    """

    def __init__(self, w1_dir: Path, sensor_id: str, *, start_c: float = 4.0,
                 setpoint_c: float = 3.5, tau_s: float = 1800.0) -> None:
        self.dir = Path(w1_dir) / sensor_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sensor_id = sensor_id
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

    def write(self) -> None:
        tmp = self.dir / "w1_slave.tmp"
        tmp.write_text(w1_slave_text(self.temp_c))
        os.replace(tmp, self.dir / "w1_slave")


class SimulatedBench:
    """A scale, a densimeter and tank probes in one folder, ready for a station."""

    def __init__(self, folder: Path, *, tanks: int = 1, seed: int | None = None,
                 frame_interval_s: float = 0.05, settle_s: float = 0.5) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scale_port = PtyPort(self.folder / "scale")
        self.densimeter_port = PtyPort(self.folder / "densimeter")
        self.scale = VirtualScale(self.scale_port, frame_interval_s=frame_interval_s,
                                  settle_s=settle_s, seed=seed)
        self.densimeter = VirtualDensimeter(self.densimeter_port)
        self.w1_dir = self.folder / "w1"
        self.tanks = {f"tank{i + 1}": VirtualTank(self.w1_dir, f"28-00000000{i + 1:04x}")
                      for i in range(tanks)}

    def start(self) -> "SimulatedBench":
        self.scale.start()
        return self

    def stop(self) -> None:
        self.scale.stop()
        self.scale_port.unplug()
        self.densimeter_port.unplug()

    def station_config_text(self, *, center: str, station: str, mqtt_port: int,
                            data_dir: str, stable_window_s: float = 0.3) -> str:
        """A station.toml pointing at these devices."""
        tanks = "\n".join(f'{name} = "{t.sensor_id}"' for name, t in self.tanks.items())
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
format = "ad"
baudrate = 9600
bytesize = 7
parity = "E"
stable_window_s = {stable_window_s}

[densimeter]
port = "{self.densimeter_port.path}"
format = "bridge"

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
                stop: threading.Event | None = None) -> None:
    """Producers arrive every `interval_s`: a can goes on, is measured, comes off."""
    rng = random.Random(seed)
    stop = stop or threading.Event()
    while not stop.is_set():
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


__all__ = ["PtyPort", "VirtualScale", "VirtualDensimeter", "VirtualTank", "SimulatedBench",
           "typical_can", "run_forever", "ad_frame", "w1_slave_text"]
