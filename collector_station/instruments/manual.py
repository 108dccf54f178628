"""`collector-station simulate --manual`: the virtual instruments follow typed lines.

A technician (or a test) drives the simulated bench by hand, one line each:

    can KG DENSITY TEMP_C [FAT]   a can of KG settles on the scale; the
                                  densimeter/analyzer reports DENSITY g/ml at
                                  TEMP_C (and FAT % when given)
    off                           the can is lifted
    tank NAME TEMP_C              the tank's probes read TEMP_C from now on
    unplug / plug                 the scale's cable

Blank lines and lines starting with `#` are skipped. A decimal comma is
read as a point. `parse_manual_line` is pure (text in, a command or an
error key with its values out); `ManualBench` carries commands out on a
`SimulatedBench`, whose frames still come from the instrument registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from collector_station.instruments.simulate import SimulatedBench

# The producers a simulated station knows (`simulate --write-config`).
SIM_PRODUCERS = (
    ("p001", "Rosa Quispe"), ("p002", "Juan Mamani"), ("p003", "Lucía Condori"),
    ("p004", "Pedro Huamán"), ("p005", "Carmen Flores"), ("p006", "Felipe Choque"),
    ("p007", "Marta Ticona"), ("p008", "Hilario Apaza"), ("p009", "Elena Cusi"),
    ("p010", "Néstor Layme"), ("p011", "Juana Coaquira"), ("p012", "Víctor Pari"),
    ("p013", "Teodora Yupanqui"), ("p014", "Sabino Ccama"), ("p015", "Irene Chura"),
    ("p016", "Grover Calle"), ("p017", "Nieves Limachi"), ("p018", "Aurelio Poma"),
    ("p019", "Dominga Alanoca"), ("p020", "Wilber Huanca"),
)

# What a line may say: wider than any real can or milk, narrower than
# nonsense, so a typo (2000 kg, density 1031) is refused, not simulated.
LIMITS = {
    "kg": (Decimal("0"), Decimal("500")),
    "density": (Decimal("0.9"), Decimal("1.2")),
    "temp_c": (Decimal("-5"), Decimal("80")),
    "fat": (Decimal("0"), Decimal("20")),
    "tank_temp_c": (Decimal("-20"), Decimal("100")),
}


@dataclass(frozen=True)
class ManualCommand:
    action: str                       # can | off | tank | unplug | plug
    kg: float | None = None
    density_g_ml: float | None = None
    temp_c: float | None = None
    fat_pct: float | None = None
    tank: str | None = None


@dataclass(frozen=True)
class ManualError:
    """A line that was not understood: a `station` text key and its values."""

    key: str
    values: dict = field(default_factory=dict)


def _number(word: str) -> Decimal | None:
    try:
        value = Decimal(word.replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_manual_line(line: str, tanks: Iterable[str] = ()) -> ManualCommand | ManualError | None:
    """One typed line: a command, an error, or None (blank or comment)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    words = text.split()
    head, rest = words[0].lower(), words[1:]
    bad = ManualError("sim.bad_line", {"line": text})

    def checked(word: str, what: str, label: str) -> Decimal | ManualError:
        value = _number(word)
        low, high = LIMITS[what]
        if value is None:
            return bad
        if not low <= value <= high:
            return ManualError("sim.bad_value", {"line": text, "field": label, "low": low, "high": high})
        return value

    if head == "can" and len(rest) in (3, 4):
        fields = [checked(rest[0], "kg", "KG"), checked(rest[1], "density", "DENSITY"),
                  checked(rest[2], "temp_c", "TEMP_C")]
        if len(rest) == 4:
            fields.append(checked(rest[3], "fat", "FAT"))
        for value in fields:
            if isinstance(value, ManualError):
                return value
        return ManualCommand("can", kg=float(fields[0]), density_g_ml=float(fields[1]),
                             temp_c=float(fields[2]),
                             fat_pct=float(fields[3]) if len(fields) == 4 else None)
    if head == "tank" and len(rest) == 2:
        tanks = list(tanks)
        if rest[0] not in tanks:
            return ManualError("sim.unknown_tank", {"line": text, "tank": rest[0],
                                                    "tanks": ", ".join(tanks) or "—"})
        value = checked(rest[1], "tank_temp_c", "TEMP_C")
        if isinstance(value, ManualError):
            return value
        return ManualCommand("tank", temp_c=float(value), tank=rest[0])
    if head in ("off", "unplug", "plug") and not rest:
        return ManualCommand(head)
    return bad


# A real DS18B20 in a tank flickers by its last step (1/16 °C); a value that
# never moves for 30 minutes is taken for a frozen driver (devices.DS18B20
# "stale"). Typed tank temperatures flicker by that step every 10 minutes.
FLICKER_C = 0.0625
FLICKER_EVERY_S = 600.0


class ManualBench:
    """A simulated bench driven by commands instead of automatic producers."""

    def __init__(self, bench: SimulatedBench, clock: Callable[[], float] | None = None) -> None:
        self.bench = bench
        self.plugged = True
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._tank_c = {name: tank.temp_c for name, tank in bench.tanks.items()}
        self._flicker_at = self.clock() + FLICKER_EVERY_S
        self._flicker = False

    def apply(self, command: ManualCommand) -> None:
        bench = self.bench
        with self._lock:
            if command.action == "can":
                bench.scale.place(command.kg)
                extra = {} if command.fat_pct is None else {"fat_pct": command.fat_pct}
                bench.densimeter.measure(command.density_g_ml, command.temp_c, **extra)
            elif command.action == "off":
                bench.scale.remove()
            elif command.action == "tank":
                tank = bench.tanks[command.tank]
                self._tank_c[command.tank] = tank.temp_c = command.temp_c
                tank.write()
            elif command.action == "unplug" and self.plugged:
                bench.scale_port.unplug()
                self.plugged = False
            elif command.action == "plug" and not self.plugged:
                bench.scale_port.plug()
                self.plugged = True

    def tick(self) -> None:
        """Background turn: an analyzer that measures on request answers it;
        now and then the tank probes flicker by one step."""
        with self._lock:
            self.bench.densimeter.answer_requests()
            if self.clock() >= self._flicker_at:
                self._flicker_at = self.clock() + FLICKER_EVERY_S
                self._flicker = not self._flicker
                for name, tank in self.bench.tanks.items():
                    tank.temp_c = self._tank_c[name] + (FLICKER_C if self._flicker else 0.0)
                    tank.write()


def run_manual(bench: SimulatedBench, lines: Iterable[str], complain: Callable[[ManualError], None],
               stop: threading.Event) -> None:
    """Apply each line until the lines end or `stop` is set; a bad line is
    reported through `complain` and skipped, never the end of the simulator."""
    manual = ManualBench(bench)

    def answer() -> None:
        while not stop.wait(0.05):
            manual.tick()

    threading.Thread(target=answer, name="manual-analyzer", daemon=True).start()
    for line in lines:
        if stop.is_set():
            break
        parsed = parse_manual_line(line, bench.tanks)
        if isinstance(parsed, ManualError):
            complain(parsed)
        elif parsed is not None:
            manual.apply(parsed)
