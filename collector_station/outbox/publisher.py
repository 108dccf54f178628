"""Publish the station outbox to MQTT (QoS 1), marking rows sent on PUBACK.

The outbox is the only queue: each connection starts a fresh paho client
with a clean session and re-reads the unsent rows in order, so nothing
depends on paho's in-memory state surviving a disconnect or a restart. A
message acknowledged by the broker but whose PUBACK was lost is sent again
with the same payload and id; the hub's writes are idempotent.
"""

from __future__ import annotations

import json
import logging
import queue
import threading

import paho.mqtt.client as mqtt

from milk_common import contract
from milk_common.contract import registry_topic, station_topic

from collector_station.outbox.store import Outbox

log = logging.getLogger(__name__)

def status_payload(center: str, station: str, status: str, devices: dict | None = None) -> bytes:
    """The retained status/1 message, encoded."""
    return json.dumps(contract.status_payload(center, station, status, devices)).encode()


class OutboxPublisher:
    """A thread that drains the outbox to the broker while it is reachable."""

    def __init__(self, outbox: Outbox, *, center: str, station: str, host: str, port: int,
                 keepalive_s: int = 30, username: str | None = None, password: str | None = None,
                 max_inflight: int = 100, reconnect_max_s: float = 30.0) -> None:
        self.outbox = outbox
        self.center, self.station = center, station
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.username, self.password = username, password
        self.max_inflight = max_inflight
        self.reconnect_max_s = reconnect_max_s
        self.client_id = f"station-{center}-{station}"
        self.status_topic = station_topic(center, station, "status")
        self.connected = threading.Event()
        self.published = 0          # PUBACKs received, for the status line and tests
        # Called with the hub's retained `registry/1` message for this center.
        self.on_registry = None
        self.devices: dict[str, str] = {}     # instrument -> connected | disconnected
        self._devices_changed = threading.Event()
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "OutboxPublisher":
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self._thread.start()
        return self

    def device_status(self, device: str, state: str) -> None:
        """An instrument came or went: republish the retained status."""
        self.devices[device] = state
        self._devices_changed.set()
        self._wake.set()

    def wake(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)

    # -- the loop ---------------------------------------------------------
    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                drained_any = self._one_connection()
                if drained_any:
                    delay = 0.5
            except Exception as exc:  # never let the publisher die: the outbox waits
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.error("MQTT publisher: %s", self.last_error)
            if self._stop.is_set():
                break
            self._stop.wait(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    def _one_connection(self) -> bool:
        acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=True, reconnect_on_failure=False)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.will_set(self.status_topic, status_payload(self.center, self.station, "offline"),
                        qos=1, retain=True)

        def on_connect(c, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                self.last_error = f"broker refused: {reason_code}"
                return
            self.connected.set()
            self._wake.set()
            if self.on_registry is not None:
                c.subscribe(registry_topic(self.center), qos=1)

        def on_message(c, userdata, message):
            try:
                payload = json.loads(message.payload)
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                log.error("registry message on %s refused: %s", message.topic, exc)
                return
            if self.on_registry is not None:
                self.on_registry(payload)

        def on_disconnect(c, userdata, flags, reason_code, properties):
            self.connected.clear()
            self._wake.set()

        def on_publish(c, userdata, mid, reason_code, properties):
            acks.put(mid)
            self._wake.set()

        client.on_connect, client.on_disconnect, client.on_publish = on_connect, on_disconnect, on_publish
        client.on_message = on_message
        try:
            client.connect(self.host, self.port, self.keepalive_s)
        except OSError as exc:
            self.last_error = f"cannot reach broker {self.host}:{self.port}: {exc}"
            log.warning("%s (the outbox keeps %d messages)", self.last_error, self.outbox.backlog())
            return False
        client.loop_start()
        progressed = False
        try:
            if not self.connected.wait(10):
                self.last_error = "no CONNACK from the broker"
                return False
            self._devices_changed.clear()
            client.publish(self.status_topic, status_payload(self.center, self.station, "online",
                                                             self.devices),
                           qos=1, retain=True)
            self.last_error = None
            inflight: dict[int, int] = {}     # mid -> outbox row
            cursor = 0                        # last outbox row published on this connection
            while self.connected.is_set() and not self._stop.is_set():
                self._wake.clear()
                if self._devices_changed.is_set():
                    self._devices_changed.clear()
                    client.publish(self.status_topic, status_payload(
                        self.center, self.station, "online", self.devices), qos=1, retain=True)
                done = []
                while True:
                    try:
                        mid = acks.get_nowait()
                    except queue.Empty:
                        break
                    n = inflight.pop(mid, None)
                    if n is not None:
                        done.append(n)
                if done:
                    self.outbox.mark_sent(done)
                    self.published += len(done)
                    progressed = True
                room = self.max_inflight - len(inflight)
                if room > 0:
                    for msg in self.outbox.unsent(cursor, room):
                        info = client.publish(msg.topic, msg.payload, qos=1)
                        if info.rc != mqtt.MQTT_ERR_SUCCESS:
                            break  # disconnected meanwhile; the row stays unsent
                        inflight[info.mid] = msg.n
                        cursor = msg.n
                self._wake.wait(0.5)
        finally:
            if self._stop.is_set() and self.connected.is_set():
                # A clean stop says offline itself; a crash leaves it to the will.
                try:
                    client.publish(self.status_topic,
                                   status_payload(self.center, self.station, "offline"),
                                   qos=1, retain=True).wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
            client.loop_stop()
            self.connected.clear()
        return progressed
