"""Can the station reach its hub? Learnt from the hubs' retained liveness.

A broker connection alone says nothing about the hub: the broker may be up
while the hub is stopped. Every hub publishes `hub_status/1` retained on
`milk/v1/hubs/{hub}` (`online` on connect, `offline` as its last will); the
hub is reachable while the broker link is up and at least one hub says
`online`. Durations are measured on the monotonic clock, never the wall
clock, which may be the very thing that is wrong (docs/clock.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class HubReach:
    """Fed by the MQTT publisher (`broker`, `hub_status`); asked by the alarm."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._hubs: dict[str, str] = {}
        self._broker = False
        self._unreachable_since: float | None = now()   # not yet connected at start

    def broker(self, connected: bool) -> None:
        """The broker link came or went. On a new connection the retained
        statuses arrive again, so the old ones are forgotten (a cleared
        retained message would otherwise leave a stale `online`)."""
        with self._lock:
            self._broker = connected
            if connected:
                self._hubs.clear()
            self._update()

    def hub_status(self, topic: str, payload: dict | None) -> None:
        """A hub's retained `hub_status/1` (anything else is ignored); None: its retained
        status was cleared (an empty retained message), so that hub is forgotten."""
        if payload is None:
            with self._lock:
                self._hubs.pop(topic.rsplit("/", 1)[-1], None)
                self._update()
            return
        status = payload.get("status")
        if payload.get("schema") != "hub_status/1" or status not in ("online", "offline"):
            return
        with self._lock:
            self._hubs[topic.rsplit("/", 1)[-1]] = status
            self._update()

    def _update(self) -> None:
        reachable = self._broker and "online" in self._hubs.values()
        if reachable:
            self._unreachable_since = None
        elif self._unreachable_since is None:
            self._unreachable_since = self.now()

    @property
    def reachable(self) -> bool:
        with self._lock:
            return self._unreachable_since is None

    def unreachable_for_s(self) -> float:
        """Seconds since the hub was last reachable (0 while it is)."""
        with self._lock:
            since = self._unreachable_since
        return 0.0 if since is None else max(self.now() - since, 0.0)

    def describe(self) -> dict:
        with self._lock:
            return {"broker": self._broker, "hubs": dict(self._hubs),
                    "reachable": self._unreachable_since is None}
