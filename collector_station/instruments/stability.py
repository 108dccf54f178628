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
    is judged by the window and tolerance alone.

    Only what the indicator itself calls overload, underload or error, and a
    weight above `max_capacity_kg`, is a `fault` (its cause in
    `fault_reason`). A reading near zero, negative ones included, is
    `empty`: a can lifted off a swinging platform reads -0.3 kg for a
    moment, and that is no fault. A reading below minus `empty_below_kg`
    is `negative` (a tare left on an emptied platform): not empty, not a
    fault, never stable.
    """

    def __init__(self, window_s: float, tolerance_kg: Decimal, empty_below_kg: Decimal,
                 max_capacity_kg: Decimal = Decimal("1e9")) -> None:
        self.window_s = window_s
        self.tolerance_kg = tolerance_kg
        self.empty_below_kg = empty_below_kg
        self.max_capacity_kg = max_capacity_kg
        self.state = "unknown"          # unknown | empty | negative | moving | stable | fault
        self.stable_kg: Decimal | None = None
        self.fault_reason: str | None = None   # overload | underload | error | over_capacity
        self._since: float | None = None
        self._low = self._high = None

    def update(self, weight: Weight, now_s: float) -> str:
        if weight.status != "ok" or weight.value_kg is None:
            return self._reset("fault", weight.status if weight.status != "ok" else "error")
        value = weight.value_kg
        if value > self.max_capacity_kg:
            return self._reset("fault", "over_capacity")
        if value <= -self.empty_below_kg:
            return self._reset("negative")
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

    def fault(self, reason: str = "error") -> str:
        """The instrument reported an error that is not a weight (MT-SICS `EL`...)."""
        return self._reset("fault", reason)

    def _reset(self, state: str, reason: str | None = None) -> str:
        self.state, self.stable_kg, self.fault_reason = state, None, reason
        self._since = self._low = self._high = None
        return state


class FaultNotice:
    """Says a scale fault once, and says it again only after it has cleared.

    A fault clears when the scale has read something else for `clear_s`
    (a flapping cable or a swinging overload must not repeat the message
    every frame). Pure: `update` takes the fault reason now (None: no
    fault) and the time, and returns what to tell the operator:
    ("fault", reason) when a fault begins, ("cleared", reason) when it is
    over, None otherwise.
    """

    def __init__(self, clear_s: float = 2.0) -> None:
        self.clear_s = clear_s
        self.active: str | None = None
        self._ok_since: float | None = None

    def update(self, reason: str | None, now_s: float) -> tuple[str, str] | None:
        if reason is not None:
            self._ok_since = None
            if self.active is None:
                self.active = reason
                return ("fault", reason)
            return None
        if self.active is None:
            return None
        if self._ok_since is None:
            self._ok_since = now_s
        if now_s - self._ok_since >= self.clear_s:
            cleared, self.active, self._ok_since = self.active, None, None
            return ("cleared", cleared)
        return None
