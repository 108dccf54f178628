"""What an instrument module declares about itself (pure data, no I/O).

Every protocol module (ad.py, sics.py, ...) ends with one `INSTRUMENT =
Instrument(...)`: its parser, what it yields, its usual line settings and
its simulator frame builders. The registry (protocols/__init__.py) collects
them, and everything that used to list instruments by name (the config's
checks, the CLI's choices, the simulator) reads the registry instead, so a
new instrument is one module and its test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from collector_station.instruments.protocols.base import Parser


@dataclass(frozen=True)
class LineSettings:
    """The serial line an instrument of this kind usually has (devices.md)."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


@dataclass(frozen=True)
class ScaleDisplay:
    """What a simulated indicator shows at one instant (simulator input)."""

    net_kg: float
    tare_kg: float = 0.0
    stable: bool = True
    overload: bool = False
    seq: int = 0               # frame counter modulo 65536, for lines that count
    uptime_ms: int = 0


@dataclass(frozen=True)
class MilkSample:
    """What a simulated analyzer measured in one sample (simulator input)."""

    density_g_ml: float
    temp_c: float
    compensated: bool = False
    fat_pct: float = 3.6
    snf_pct: float = 8.6
    seq: int = 0               # samples measured so far, modulo 65536


# A simulator builder: the bytes the real instrument would send. The random
# source is the simulator's own (electrical noise of raw-count sources).
WeightFrame = Callable[[ScaleDisplay, random.Random], bytes]
AnalysisFrame = Callable[[MilkSample], bytes]
# An instrument that answers commands: the bytes it replies to an action
# (`read`, `tare`, `zero`; None for bytes it did not understand).
CommandReply = Callable[[str | None, ScaleDisplay, random.Random], bytes]


@dataclass(frozen=True)
class Instrument:
    """One instrument format: everything the station and the simulator need.

    `kind` says what the station may use it for: a scale needs `weight` or
    `both`, a densimeter `analysis` or `both`. The commands and the poll are
    the parser class's own (`Parser.commands`, `Parser.poll`), typed once
    there. `calibrated_on_host` marks raw load-cell sources whose kilograms
    the station computes (`LoadCellCalibration`); `sim_config` holds the
    extra config keys a simulated one needs (its calibration).
    """

    parser: type[Parser]
    kind: Literal["weight", "analysis", "both"]
    line: LineSettings
    weight_frame: WeightFrame | None = None
    analysis_frame: AnalysisFrame | None = None
    command_reply: CommandReply | None = None
    calibrated_on_host: bool = False
    sim_config: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A simulator for every use the instrument declares.
        if self.weighs and self.weight_frame is None:
            raise ValueError(f"{self.name}: a weighing instrument needs a weight_frame")
        if self.analyses and self.analysis_frame is None:
            raise ValueError(f"{self.name}: an analysing instrument needs an analysis_frame")

    @property
    def name(self) -> str:
        return self.parser.name

    @property
    def weighs(self) -> bool:
        return self.kind in ("weight", "both")

    @property
    def analyses(self) -> bool:
        return self.kind in ("analysis", "both")

    @property
    def commands(self) -> dict[str, bytes]:
        return self.parser.commands

    @property
    def poll(self) -> bytes | None:
        """Sent periodically: the instrument only answers requests (MT-SICS)."""
        return self.parser.poll

    @property
    def needs_trigger(self) -> bool:
        """An analyzer that measures only when asked (it has an `analyze` command)."""
        return "analyze" in self.parser.commands
