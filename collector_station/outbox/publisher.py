"""Publish the station outbox to MQTT (QoS 1), marking rows sent on PUBACK.

The outbox is the only queue: each connection starts a fresh paho client
with a clean session and re-reads the unsent rows in order, so nothing
depends on paho's in-memory state surviving a disconnect or a restart. A
message acknowledged by the broker but whose PUBACK was lost is sent again
with the same payload and id; the hub's writes are idempotent.

Recovery (docs/recovery.md): the retained status carries the database's
epoch and last sequence numbers, re-published every `status_interval_s` and
soon after new records were acknowledged; the hub answers with `replay/1`
requests on `milk/v1/{center}/{station}/replay`, and the requested records
are queued again from the station database, unchanged.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt

from milk_common import contract
from milk_common.contract import InvalidPayload, ReplayV1, decode, registry_topic, replay_topic, station_topic
from milk_common.contract.topics import HUB_STATUS_SUBSCRIPTION
from milk_common.mqtt import MqttAccess, make_client

from collector_station.outbox.store import Outbox
from milk_common.mqtt import stop_loop

log = logging.getLogger(__name__)

# The fewest seconds between two status messages announcing new sequence numbers.
STATUS_MIN_S = 2.0


class OutboxPublisher:
    """A thread that drains the outbox to the broker while it is reachable."""

    def __init__(self, outbox: Outbox, *, center: str, station: str, host: str, port: int,
                 keepalive_s: int = 30, username: str | None = None, password: str | None = None,
                 tls_ca: str | None = None, access=None, max_inflight: int = 100, reconnect_max_s: float = 30.0,
                 status_interval_s: float = 60.0) -> None:
        self.outbox = outbox
        self.center, self.station = center, station
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        # `access`: the [mqtt] section (TLS, username, password or password_file);
        # a bare username/password is the older way and still works.
        self.access = access if access is not None else (
            MqttAccess(username=username, password=password, tls_ca=tls_ca)
            if username or tls_ca else None)
        self.max_inflight = max_inflight
        self.reconnect_max_s = reconnect_max_s
        self.client_id = f"station-{center}-{station}"
        self.status_topic = station_topic(center, station, "status")
        self.replay_topic = replay_topic(center, station)
        self.status_interval_s = status_interval_s
        self.replayed = 0           # records queued again at the hub's request
        self._status_at = 0.0
        self._announced: dict = {}
        self.connected = threading.Event()
        self.published = 0          # PUBACKs received, for the status line and tests
        # Called with the hub's retained `registry/1` message for this center.
        self.on_registry = None
        # Called as on_hub_status(topic, payload_dict or None when cleared) for every hub's retained
        # liveness (`milk/v1/hubs/+`), and as on_broker(connected) when the
        # broker connection comes or goes (collector_station/offline/reach.py).
        self.on_hub_status = None
        self.on_broker = None
        self.devices: dict[str, str] = {}     # instrument -> connected | disconnected
        self.status_extra: dict = {}          # optional status/1 keys (status_fields)
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

    def status_fields(self, **fields: object) -> None:
        """Optional status/1 keys changed (e.g. `clock`): republish the retained status."""
        # Built once here, so a key or value the contract refuses fails its
        # caller, not every later connection of the publisher thread.
        self._status_message("online", **{**self.status_extra, **fields})
        self.status_extra.update(fields)
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
        client = make_client(self.access, client_id=self.client_id, clean_session=True,
                             reconnect_on_failure=False)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        client.will_set(self.status_topic, self._status_message("offline", epoch=self.outbox.epoch),
                        qos=1, retain=True)

        def on_connect(c, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                self.last_error = f"broker refused: {reason_code}"
                return
            self.connected.set()
            self._wake.set()
            if self.on_broker is not None:
                self.on_broker(True)
            if self.on_registry is not None:
                c.subscribe(registry_topic(self.center), qos=1)
            if self.on_hub_status is not None:
                c.subscribe(HUB_STATUS_SUBSCRIPTION, qos=1)
            c.subscribe(self.replay_topic, qos=1)

        def on_message(c, userdata, message):
            if message.topic == self.replay_topic:
                self._replay(message.payload)
                return
            if not message.payload and mqtt.topic_matches_sub(HUB_STATUS_SUBSCRIPTION, message.topic):
                if self.on_hub_status is not None:     # a hub's retained status cleared
                    self.on_hub_status(message.topic, None)
                return
            try:
                payload = json.loads(message.payload)
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                log.error("message on %s refused: %s", message.topic, exc)
                return
            if mqtt.topic_matches_sub(HUB_STATUS_SUBSCRIPTION, message.topic):
                if self.on_hub_status is not None:
                    self.on_hub_status(message.topic, payload)
                return
            if self.on_registry is not None:
                self.on_registry(payload)

        def on_disconnect(c, userdata, flags, reason_code, properties):
            self.connected.clear()
            self._wake.set()
            if self.on_broker is not None:
                self.on_broker(False)

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
            self._publish_status(client)
            self.last_error = None
            inflight: dict[int, int] = {}     # mid -> outbox row
            cursor = 0                        # last outbox row published on this connection
            while self.connected.is_set() and not self._stop.is_set():
                self._wake.clear()
                if self._devices_changed.is_set():
                    self._devices_changed.clear()
                    self._publish_status(client)
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
                fetched = []
                if room > 0:
                    fetched = self.outbox.unsent(cursor, room)
                    for msg in fetched:
                        info = client.publish(msg.topic, msg.payload, qos=1)
                        if info.rc != mqtt.MQTT_ERR_SUCCESS:
                            break  # disconnected meanwhile; the row stays unsent
                        inflight[info.mid] = msg.n
                        cursor = msg.n
                if self._status_due(idle=not inflight and not fetched):
                    self._publish_status(client)
                self._wake.wait(0.5)
        finally:
            if self._stop.is_set() and self.connected.is_set():
                # A clean stop says offline itself; a crash leaves it to the will.
                try:
                    client.publish(self.status_topic, self._status_message("offline", **self._seqs()),
                                   qos=1, retain=True).wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
            stop_loop(client)
            self.connected.clear()
        return progressed

    def _status_message(self, status: str, devices: dict | None = None, **fields: object) -> bytes:
        """The retained status/1 message, encoded; `fields` are its optional
        keys: the recovery ones (epoch, last_seq, last_tank_seq, outbox) and
        those of `status_fields` (the clock's verdict: collector_station/clock.py)."""
        return json.dumps(contract.status_payload(self.center, self.station, status, devices,
                                                  **fields)).encode()

    # -- recovery -----------------------------------------------------------
    def _seqs(self) -> dict:
        return {"epoch": self.outbox.epoch, "last_seq": self.outbox.last_seq(),
                "last_tank_seq": self.outbox.last_tank_seq()}

    def _publish_status(self, client) -> None:
        seqs = self._seqs()
        # The unsent count rides along for the dashboard ("por enviar"); it is not
        # part of what `_announced` compares, so it triggers no extra status.
        client.publish(self.status_topic,
                       self._status_message("online", self.devices,
                                            **{**self.status_extra, **seqs, "outbox": self.outbox.backlog()}),
                       qos=1, retain=True)
        self._status_at = time.monotonic()
        self._announced = seqs

    def _status_due(self, idle: bool) -> bool:
        """Every `status_interval_s`, and once new records were all acknowledged
        (`idle`; at most one status every STATUS_MIN_S: cheap for the hub). A
        status after its records tells the hub nothing is missing yet."""
        since = time.monotonic() - self._status_at
        if since >= self.status_interval_s:
            return True
        if since < STATUS_MIN_S or not idle:
            return False
        return self._seqs() != self._announced

    def _replay(self, raw: bytes) -> None:
        """The hub asks for records again: queue them, unchanged, from the database."""
        try:
            request = decode(ReplayV1, raw)
        except InvalidPayload as exc:
            log.error("replay request refused: %s", exc)
            return
        if (request.center, request.station) != (self.center, self.station):
            log.error("replay request for %s/%s ignored", request.center, request.station)
            return
        if request.epoch != self.outbox.epoch:
            # An older database's records went with it: nothing to send.
            log.warning("replay request for epoch %s ignored (this database is epoch %s)",
                        request.epoch, self.outbox.epoch)
            return
        try:
            queued = self.outbox.requeue(request.kind, request.from_seq, request.to_seq)
        except Exception:   # never let a request stop the publisher
            log.exception("replay of %s %d-%d failed", request.kind, request.from_seq, request.to_seq)
            return
        self.replayed += queued
        log.info("hub asked for %s %d-%d: %d queued again", request.kind, request.from_seq,
                 request.to_seq, queued)
        self._wake.set()
