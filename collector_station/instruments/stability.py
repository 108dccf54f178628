"""When a weight is stable enough to make a delivery: pure logic, no I/O.

The scale device (devices.Scale) feeds it each weight with its arrival time.
"""

from __future__ import annotations

from decimal import Decimal

from collector_station.instruments.protocols.base import Weight


class StabilityTracker:
    """Decides when a weight is stable enough to make a delivery (pure logic).

    The indicator's own flag (ST) must say stable *and* the readings must agree
    within `tolerance_kg` for `window_s`, so a can still swinging on a scale
    that claims stability early is not recorded. A source with no flag
    (`Weight.stable is None`: simple milk-scale strings, the HX711 bridge)
    is judged by the window and tolerance alone. Overload, underload, error
    and negative weights reset it.
    """

    def __init__(self, window_s: float, tolerance_kg: Decimal, empty_below_kg: Decimal,
                 max_capacity_kg: Decimal = Decimal("1e9")) -> None:
        self.window_s = window_s
        self.tolerance_kg = tolerance_kg
        self.empty_below_kg = empty_below_kg
        self.max_capacity_kg = max_capacity_kg
        self.state = "unknown"          # unknown | empty | moving | stable | fault
        self.stable_kg: Decimal | None = None
        self._since: float | None = None
        self._low = self._high = None

    def update(self, weight: Weight, now_s: float) -> str:
        if weight.status != "ok" or weight.value_kg is None or weight.value_kg < 0 \
                or weight.value_kg > self.max_capacity_kg:
            return self._reset("fault")
        value = weight.value_kg
        if value < self.empty_below_kg:
            return self._reset("empty")
        if weight.stable is False:
            return self._reset("moving")
        if self._since is None or max(self._high, value) - min(self._low, value) > self.tolerance_kg:
            self._since, self._low, self._high = now_s, value, value
        else:
            self._low, self._high = min(self._low, value), max(self._high, value)
        if now_s - self._since >= self.window_s:
            self.state, self.stable_kg = "stable", value
        else:
            self.state, self.stable_kg = "moving", None
        return self.state

    def fault(self) -> str:
        """The instrument reported an error that is not a weight (MT-SICS `EL`...)."""
        return self._reset("fault")

    def _reset(self, state: str) -> str:
        self.state, self.stable_kg = state, None
        self._since = self._low = self._high = None
        return state
