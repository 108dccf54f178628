"""MQTT to InfluxDB, acknowledging each message only once it is stored.

- A persistent MQTT v5 session (clean_start off, session never expires): the
  broker keeps what stations publish while the hub is down.
- Manual acknowledgement: a QoS 1 message is PUBACKed only after InfluxDB
  answered 204 for the batch holding it (or after it was kept as a dead
  letter). A crash before that makes the broker deliver it again; the write
  is idempotent (same series and timestamp), so it is stored once in effect.
- A failed write is retried with backoff, the data held, the failure logged,
  counted and shown in the status file; it is never only a log line.
- Pipelined: the main thread checks batch N+1 (one msgspec pass per message,
  the seal, the chain in one SQLite transaction per batch, line protocol)
  while a writer thread stores batch N and acknowledges it. At most one
  checked batch waits for the writer, so memory stays bounded.
- Shared subscriptions (`[mqtt] shared_group`, docs/scaling.md): several
  hubs, each with its own client id, share the delivery, tank and shift
  load; their per-station state lives in the data folder they share.
- Recovery (docs/recovery.md): each stored batch's sequence numbers go to
  the recovery index in one transaction; what the stations announced but the
  hub never got is asked for again on their replay topics.
- Liveness: `hub_status/1` online (retained) on every connect, offline as the
  last will and on a clean stop, on `milk/v1/hubs/{client_id}`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from milk_common.contract import DeliveryV1, InvalidPayload, decode_station_message, hub_subscriptions
from milk_common.integrity import ts_ms
from milk_common.mqtt import configure_client

from hub.config import HubConfig
from hub.store.influx import InfluxError, InfluxV1
from hub.ingest.integrity import ChainWatch, IntegrityLog, check_seal, sealed_time_finding
from hub.ingest.jsonlines import append_lines
from hub.ingest.sealfields import seal_record
from hub.ingest.timecheck import flag_lines, stamp_findings
from hub.security.keys import StationKeys
from hub.store.points import delivery_line, points
from hub.recovery.watch import RecoveryWatch
from milk_common.contract import hub_status_payload, hub_status_topic
from milk_common.mqtt import stop_loop

log = logging.getLogger(__name__)


@dataclass(slots=True)      # up to receive_maximum of them are held at once
class Received:
    generation: int          # which connection it came on; acks go only on that one
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass
class IngestStats:
    received: int = 0
    stored_messages: int = 0
    stored_points: int = 0
    stored_deliveries: int = 0     # of stored_messages, those on delivery topics
    dead_letters: int = 0
    integrity_alerts: int = 0
    write_failures: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    connected: bool = False
    backlog: int = 0
    replay_requested: int = 0      # records asked of stations again (docs/recovery.md)
    # Refreshed on every write (every 2 s while running): a killed hub leaves
    # `connected: true` behind, so the dashboard trusts the file only while
    # this is fresh (hub/web/queries.py, HEARTBEAT_STALE_S).
    heartbeat: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


_PUBACK = 0x40
_PUBACK_HEAD = struct.Struct("!BBH")      # type, remaining length 2, packet id (MQTT 3.1.1 and 5)


class _Client(mqtt.Client):
    """paho's client, reading the socket in large chunks.

    paho reads each packet with several small recv() calls (the type byte,
    the length bytes, the rest) and one packet per select() while none of
    its own publishes are in flight. Every recv() gives up the interpreter
    lock and must win it back from the thread checking batches, so at a few
    thousand messages a second the MQTT thread spent most of its time
    waiting for the lock (measured with py-spy). Here one recv() of up to
    16 KiB serves many packets, and every packet already received is read
    before the next select(). Both override internals of paho 2.x; with
    another paho they step aside."""

    _CHUNK = 16384       # a TLS record holds at most 16 KiB: one recv() never returns more

    def _sock_recv(self, bufsize: int) -> bytes:
        if getattr(self, "_chunk_sock", None) is not self._sock:    # a new connection
            self._chunk, self._chunk_pos, self._chunk_sock = b"", 0, self._sock
        if self._chunk_pos >= len(self._chunk):
            data = super()._sock_recv(self._CHUNK)    # BlockingIOError when nothing is there
            if not data:
                return data                            # the broker closed the connection
            self._chunk, self._chunk_pos = data, 0
        out = self._chunk[self._chunk_pos:self._chunk_pos + bufsize]
        self._chunk_pos += len(out)
        return out

    # on_qos1(mid, topic, payload): QoS 1 PUBLISHes, decoded here (below).
    on_qos1 = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """A QoS 1 PUBLISH under manual acknowledgement, read straight from the
        packet: topic, packet id, payload. paho's own path builds a
        Properties object, a message object with a condition variable and
        three copies of the payload per message; the hub reads none of the
        properties (it asks for no topic aliases, so the topic is always
        there). Anything else, or anything odd, goes paho's way."""
        handler = self.on_qos1
        command = self._in_packet["command"]
        if handler is None or (command & 0x06) != 0x02 or not self._manual_ack \
                or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            end = 2 + ((packet[0] << 8) | packet[1])
            topic, pos = packet[2:end], end + 2
            mid = (packet[end] << 8) | packet[end + 1]
            length, shift = 0, 0
            while True:                      # the property length, a variable byte integer
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return super()._handle_publish()
            pos += length
        except IndexError:
            return super()._handle_publish()
        if not topic or pos > len(packet):
            return super()._handle_publish()
        handler(mid, topic, bytes(packet[pos:]))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK these QoS 1 messages in one write: paho's `ack()` queues each
        PUBACK on its own (a wake-up of the network thread and, over TLS, a
        record and a send() per message). The packets are exactly paho's."""
        queue = getattr(self, "_packet_queue", None)
        if queue is None:
            for mid in mids:
                self.ack(mid, 1)
            return
        queue(_PUBACK, b"".join([_PUBACK_HEAD.pack(_PUBACK, 2, mid) for mid in mids]), 0, 1)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        read, handle = getattr(self, "_packet_read", None), getattr(self, "_loop_rc_handle", None)
        if read is None or handle is None:     # another paho inside: its own way
            return super().loop_read(max_packets)
        # Until the socket has nothing more: select() cannot see what waits in _chunk.
        while True:
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = read()
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                if getattr(self, "_chunk_pos", 0) < len(getattr(self, "_chunk", b"")):
                    continue        # paho pausing inside a huge packet: the rest is here
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return handle(rc)


def _topic_safe(name: str) -> str:
    """A client id as one topic level (no wildcards, no separators)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@dataclass
class Checked:
    """A batch after the checks, waiting for the writer."""
    good: list[tuple[Received, list[str]]]     # messages and their InfluxDB lines
    bad: list[tuple[Received, str]]            # dead letters and why
    decoded: list                              # for the recovery index, dead letters included


class DeadLetters:
    """Messages the hub could not store, kept verbatim with the reason (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def keep(self, items: list[tuple[Received, str]]) -> None:
        if not items:
            return
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        # Kept (fsynced) before the PUBACK: after that the broker forgets the message.
        append_lines(self.path, "".join(json.dumps({
            "received_at": at, "topic": msg.topic, "reason": reason,
            "payload": msg.payload.decode("utf-8", "replace"),
        }, ensure_ascii=False) + "\n" for msg, reason in items))


class Ingest:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        ic = config.influx
        self.influx = InfluxV1.from_config(ic)
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.dead_letters = DeadLetters(self.data_dir / "dead_letters.jsonl")
        self.status_path = self.data_dir / status_file_name(config.mqtt)
        self.stats = IngestStats()
        self.chain = ChainWatch(self.data_dir / "chain.sqlite3")
        self.station_keys = StationKeys(config.integrity.keys, config.keys_path)
        self.integrity_log = IntegrityLog(self.data_dir / "integrity.jsonl")
        # Sequence numbers stored per station database; asks for what is missing.
        self.recovery = RecoveryWatch(config.recovery, self.data_dir)
        self.hub_topic = hub_status_topic(_topic_safe(config.mqtt.client_id))
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()   # lighter than Queue
        # Checked batches for the writer thread: one waits while one is written.
        self._to_write: queue.Queue[Checked | None] = queue.Queue(maxsize=1)
        self._writer: threading.Thread | None = None
        self._status_lock = threading.Lock()
        self.generation = 0
        self._stop = threading.Event()
        self._client: mqtt.Client | None = None
        # Called as observer(topic, payload_bytes) for each stored message (hub/alerts).
        self.observers: list = []
        # Called with each integrity Finding (the alert engine tells the technicians).
        self.integrity_observers: list = []
        # InfluxDB 2.x/3.x through the v1 API: the bucket and its mapping exist already.
        self._database_ready = not config.influx.create_database

    # -- MQTT side --------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        mc = self.config.mqtt
        client = _Client(mqtt.CallbackAPIVersion.VERSION2, client_id=mc.client_id,
                         protocol=mqtt.MQTTv5, manual_ack=True)
        configure_client(client, mc)
        client.reconnect_delay_set(1, 30)
        # The hub's liveness for the stations: online on connect, the broker says offline.
        client.will_set(self.hub_topic, self._hub_status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_qos1 = self._on_qos1
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._error(f"broker refused the connection: {reason_code}")
            return
        self.generation += 1
        self.stats.connected = True
        log.info("connected to the broker (session present: %s)", flags.session_present)
        client.subscribe([(topic, 1) for topic in hub_subscriptions(self.config.mqtt.shared_group)])
        client.publish(self.hub_topic, self._hub_status("online"), qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.stats.connected = False
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        self.stats.received += 1
        self.inbox.put(Received(self.generation, message.mid, message.qos, message.topic,
                                bytes(message.payload)))

    def _on_qos1(self, mid: int, topic: bytes, payload: bytes) -> None:
        self.stats.received += 1
        # A topic that is not UTF-8 cannot be a station's: a dead letter, as
        # every unknown topic is (decode_station_message says why).
        self.inbox.put(Received(self.generation, mid, 1, topic.decode("utf-8", "replace"), payload))

    def _ack(self, messages: list[Received]) -> None:
        client = self._client
        # A message from an earlier connection is not acked here: the
        # broker sends it again on this one, and that copy is acked.
        if not self.stats.connected:
            return
        generation = self.generation
        mids = [msg.mid for msg in messages if msg.qos == 1 and msg.generation == generation]
        if mids:
            client.ack_many(mids)
        for msg in messages:
            if msg.qos == 2 and msg.generation == generation:
                client.ack(msg.mid, msg.qos)

    # -- the loop ---------------------------------------------------------
    def run(self) -> None:
        mc = self.config.mqtt
        self._client = self._make_client()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0xFFFFFFFF   # never: the broker keeps our queue
        props.ReceiveMaximum = mc.receive_maximum
        self._client.connect_async(mc.host, mc.port, mc.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()
        try:
            if not self._database_ready:
                self.influx.create_database()
                self._database_ready = True
        except InfluxError as exc:  # not fatal: retried before the first write
            self._error(f"cannot create the database yet: {exc}")
        last_status = 0.0
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        try:
            while not self._stop.is_set():
                batch = self._take_batch()
                if batch:
                    self._hand_over(self._check(batch))
                self._ask_replays(len(batch))
                if time.monotonic() - last_status > 2:
                    self.write_status()
                    last_status = time.monotonic()
        finally:
            # The writer stores and acknowledges what was checked (when InfluxDB
            # answers), then stops; what it could not store stays unacknowledged.
            self._to_write.put(None)
            self._writer.join()
            if self.stats.connected:   # a clean stop says offline itself (no will then)
                try:
                    self._client.publish(self.hub_topic, self._hub_status("offline"), qos=1,
                                         retain=True).wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
            self._client.disconnect()
            stop_loop(self._client)
            # Written last: a status written before the disconnect would leave
            # `connected: true` in the file of a stopped hub.
            self.stats.connected = False
            self.write_status()

    def stop(self) -> None:
        self._stop.set()

    def batch_limit(self) -> int:
        """Messages per batch: `[influx] batch_size`, but at most half of
        what the broker may send unacknowledged, so the next batch can
        arrive and be checked while this one is written."""
        return max(1, min(self.config.influx.batch_size, self.config.mqtt.receive_maximum // 2))

    def _take_batch(self) -> list[Received]:
        try:
            first = self.inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        limit = self.batch_limit()
        deadline = time.monotonic() + self.config.influx.flush_interval_s
        inbox = self.inbox
        while len(batch) < limit:
            try:
                batch.append(inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _hand_over(self, checked: Checked) -> None:
        """To the writer; waits while it still holds the batch before."""
        self._to_write.put(checked)

    def _write_loop(self) -> None:
        while True:
            checked = self._to_write.get()
            if checked is None:
                return
            try:
                self._store(checked)
            except Exception:   # never a dead writer under a live hub: log, leave unacked
                log.exception("storing a batch failed; its messages stay unacknowledged")

    def _check(self, batch: list[Received]) -> Checked:
        """Validate, check seals, chain, ids and stamps, and build the lines of a batch."""
        good: list[tuple[Received, list[str]]] = []
        bad: list[tuple[Received, str]] = []
        decoded = []          # for the recovery index, dead letters included
        sealed: list[dict] = []
        sealed_at: list[int] = []     # each sealed record's place in `good`
        findings: list = []
        arrived = datetime.now(timezone.utc)
        for msg in batch:
            try:
                message = decode_station_message(msg.topic, msg.payload)
                decoded.append(message)
                if isinstance(message, DeliveryV1):
                    lines = self._delivery_lines(msg, message, arrived, sealed, findings)
                    if len(sealed) > len(sealed_at):
                        sealed_at.append(len(good))
                    good.append((msg, lines))
                else:
                    good.append((msg, points(message)))
            except InvalidPayload as exc:
                bad.append((msg, str(exc)))
            except (ValueError, TypeError, RecursionError, msgspec.DecodeError) as exc:
                # RecursionError: a payload nested just under msgspec's limit
                # (devtools/fuzz.py); TypeError: a seal value of the wrong JSON
                # type (a list as ts_ms): a dead letter, not a crash.
                bad.append((msg, f"cannot be stored: {exc}"))
        if sealed:
            try:
                chain_findings, refused = self.chain.check_batch(sealed)
                findings.extend(chain_findings)
            except sqlite3.Error as exc:   # the chain is a check, not the data: store anyway
                self._error(f"chain check failed: {exc}")
                refused = {}
            if refused:
                # A known id with other content: a dead letter, never a second point.
                bad += [(good[sealed_at[j]][0], f"integrity: {why}") for j, why in refused.items()]
                drop = {sealed_at[j] for j in refused}
                good = [entry for i, entry in enumerate(good) if i not in drop]
        self._integrity_findings(findings)
        return Checked(good, bad, decoded)

    def _store(self, checked: Checked) -> None:
        good, bad, decoded = checked.good, checked.bad, checked.decoded
        if bad:
            for msg, reason in bad:
                log.warning("dead letter on %s: %s", msg.topic, reason)
            self.dead_letters.keep(bad)
            self.stats.dead_letters += len(bad)
            self._ack([msg for msg, _ in bad])
        stored, refused = self._write_with_retry(good)
        if not stored:
            return  # stopping mid-retry: unacked, the broker keeps them for next time
        if refused:
            self.dead_letters.keep(refused)
            self.stats.dead_letters += len(refused)
        refused_ids = {id(msg) for msg, _ in refused}
        for observer in self.observers:   # e.g. the alert engine: sees what was stored
            for msg, _ in good:
                if id(msg) not in refused_ids:
                    try:
                        observer(msg.topic, msg.payload)
                    except Exception:
                        log.exception("observer failed on %s", msg.topic)
        try:
            self.recovery.handled(decoded)
        except Exception:   # the index is derivable: never a reason to stop storing
            log.exception("recovery index update failed")
        self._ack([msg for msg, _ in good])

    def _ask_replays(self, batch_len: int) -> None:
        """Publish the replay requests due (docs/recovery.md); none while a
        backlog drains, since what looks missing may still be in it."""
        if not self.stats.connected or self._client is None:
            return
        half = max(self.config.influx.batch_size // 2, 1)
        busy = batch_len >= half or self.inbox.qsize() >= half
        try:
            requests = self.recovery.due(busy)
        except Exception:
            log.exception("recovery planning failed")
            return
        for topic, payload in requests:
            self._client.publish(topic, payload, qos=1)
        self.stats.replay_requested = self.recovery.requested

    def _hub_status(self, status: str) -> bytes:
        return json.dumps(hub_status_payload(self.config.mqtt.client_id, status)).encode()

    def _delivery_lines(self, msg: Received, message: DeliveryV1, arrived: datetime,
                        sealed: list[dict], findings: list) -> list[str]:
        """Refuse a delivery whose seal is wrong or whose time is not the
        sealed one (raises InvalidPayload); queue it for the batch's chain and
        id check; flag a stamp that cannot be right (stored all the same: its
        line goes beside it, hub/ingest/timecheck.py). The point's time is the
        sealed `ts_ms`: a point's identity comes only from sealed values."""
        record = seal_record(msg.payload)     # the seal's keys as sent, no second full parse
        sealed_ms = ts_ms(message.ts)
        time_finding = sealed_time_finding(record, message.ts, sealed_ms)
        if "ts_ms" not in record:
            record["ts_ms"] = sealed_ms     # what the seal computes from ts, computed once
        finding = check_seal(record, self.config.integrity, self.station_keys) or time_finding
        if finding is not None:
            findings.append(finding)
            raise InvalidPayload(f"integrity: {finding.detail}")
        sealed.append(record)
        time_ns = sealed_ms * 1_000_000
        cc = self.config.clock
        stamp = stamp_findings(message.center, message.station, message.seq, message.id, message.ts,
                               arrived, cc.future_tolerance_s, cc.late_after_days)
        if not stamp:
            return [delivery_line(message, time_ns)]
        findings.extend(stamp)
        return [delivery_line(message, time_ns), *flag_lines(stamp, message.ts, arrived)]

    def _integrity_findings(self, findings: list) -> None:
        if not findings:
            return
        self.integrity_log.keep(findings)
        self.stats.integrity_alerts += len(findings)
        for finding in findings:
            for observer in self.integrity_observers:
                try:
                    observer(finding)
                except Exception:   # an alert channel must not stop the ingest
                    log.exception("integrity observer failed")

    def _write_with_retry(self, good: list[tuple[Received, list[str]]]
                          ) -> tuple[bool, list[tuple[Received, str]]]:
        """Write until stored. Returns (done, messages InfluxDB refused);
        done is False only when the hub is stopping before the write went in."""
        if not good:
            return True, []
        delay = 0.5
        while True:
            try:
                if not self._database_ready:
                    self.influx.create_database()
                    self._database_ready = True
                self.influx.write(line for _, lines in good for line in lines)
                self._count_stored(good)
                return True, []
            except InfluxError as exc:
                self._error(str(exc))
                self.stats.write_failures += 1
                if "database not found" in str(exc) and self.config.influx.create_database:
                    self._database_ready = False
                if not exc.retry:
                    return self._write_one_by_one(good)
            self.stats.backlog = self.inbox.qsize() + len(good)
            self.write_status()
            if self._stop.wait(delay):
                return False, []
            delay = min(delay * 2, self.config.influx.retry_max_s)

    def _write_one_by_one(self, good: list[tuple[Received, list[str]]]
                          ) -> tuple[bool, list[tuple[Received, str]]]:
        """InfluxDB refused the batch (400): find the messages it refuses."""
        rejected: list[tuple[Received, str]] = []
        for msg, lines in good:
            delay = 0.5
            while True:
                try:
                    self.influx.write(lines)
                    self._count_stored([(msg, lines)])
                    break
                except InfluxError as exc:
                    if not exc.retry:
                        rejected.append((msg, str(exc)))
                        break
                    self._error(str(exc))
                    self.stats.write_failures += 1
                    if self._stop.wait(delay):
                        return False, rejected
                    delay = min(delay * 2, self.config.influx.retry_max_s)
        return True, rejected

    def _count_stored(self, good: list[tuple[Received, list[str]]]) -> None:
        self.stats.stored_messages += len(good)
        self.stats.stored_points += sum(len(lines) for _, lines in good)
        self.stats.stored_deliveries += sum(1 for msg, _ in good if msg.topic.endswith("/delivery"))

    def _error(self, message: str) -> None:
        self.stats.last_error = message
        self.stats.last_error_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        log.error("%s", message)

    def write_status(self) -> None:
        with self._status_lock:     # the main loop and the writer's retries both write it
            self._write_status()

    def _write_status(self) -> None:
        self.stats.backlog = self.inbox.qsize() + sum(
            len(c.good) + len(c.bad) for c in list(self._to_write.queue) if c is not None)
        self.stats.heartbeat = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats.__dict__, indent=1))
        os.replace(tmp, self.status_path)


def status_file_name(mqtt_settings) -> str:
    """`ingest-status.json`; in a shared group each hub has its own
    (`ingest-status-{client_id}.json`), as the hubs share the data folder."""
    if getattr(mqtt_settings, "shared_group", None):
        return f"ingest-status-{_topic_safe(mqtt_settings.client_id)}.json"
    return "ingest-status.json"
