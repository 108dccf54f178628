"""A period's deliveries from InfluxDB as columns (`hub.payments.columnar`), never a Python
object per point.

The query is the one `hub.store.deliveries.period_deliveries` runs, asked
for as CSV (``Accept: application/csv``, which InfluxDB 1.x serves; an answer
with other columns is an error naming them) in chunks, uncompressed, read
ahead by a thread; each block of complete lines is cut
into byte columns by numpy (`hub.payments.textcols.split_block`). InfluxDB
writes a float as Go's shortest plain decimal ("49", "2.03"), the same
digits the JSON answer gives, so the exact decimals are those of the
per-delivery reader. A block with quoted fields (a comma in a reject
reason) goes through the csv module instead: rare, slower, same columns.
"""

from __future__ import annotations

import csv
import io
import queue
import sys
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import numpy as np
import requests

from hub.payments.columnar import DeliveryColumns, build_columns
from hub.payments.periods import Period
from hub.payments.textcols import split_block
from hub.store.deliveries import DuplicateIds, amended_ids
from hub.store.influx import InfluxError, InfluxV1, rfc3339

FIELDS = ("id", "liters", "solids_pct", "accepted", "milk_temp_c", "fat_pct", "weight_kg", "reject_reason",
          "receipt_code", "kind", "producer")
HEADER = ",".join(("name", "tags", "time") + FIELDS).encode()
WANTED = tuple(range(2, 3 + len(FIELDS)))  # not the measurement's name nor the (empty) tags
KIND, ID = FIELDS.index("kind"), FIELDS.index("id")
READ_BYTES = 1 << 20


def period_query(period: Period, tz: ZoneInfo, fields: tuple[str, ...] = FIELDS) -> str:
    start, end = period.bounds(tz)
    return (f"SELECT {', '.join(fields)} FROM delivery "
            f"WHERE time >= '{rfc3339(start)}' AND time < '{rfc3339(end)}'")


def csv_blocks(influx: InfluxV1, q: str, chunk_size: int = 10000) -> Iterator[bytes]:
    """The answer to ``q`` as CSV, in blocks of whole lines (the header line included)."""
    try:
        resp = influx.session.get(f"{influx.url}/query", stream=True, timeout=influx.timeout_s,
                                  # Uncompressed: gzip would cost InfluxDB CPU on this very machine.
                                  headers={"Accept": "application/csv", "Accept-Encoding": "identity"},
                                  params={"db": influx.database, "q": q, "epoch": "ns",
                                          "chunked": "true", "chunk_size": str(chunk_size)})
    except requests.RequestException as exc:
        raise InfluxError(f"InfluxDB unreachable at {influx.url}: {exc.__class__.__name__}", True) from None
    if resp.status_code != 200:
        raise InfluxError(f"InfluxDB query failed: HTTP {resp.status_code} {resp.text[:200]}",
                          resp.status_code >= 500)
    with resp:
        pending: list[bytes] = []
        size = 0
        for data in _read_ahead(resp.iter_content(READ_BYTES)):
            pending.append(data)
            size += len(data)
            if size >= READ_BYTES:
                data = b"".join(pending)
                cut = data.rfind(b"\n") + 1
                pending, size = [data[cut:]], len(data) - cut
                if cut:
                    yield data[:cut]
        rest = b"".join(pending)
        if rest:
            yield rest if rest.endswith(b"\n") else rest + b"\n"


def _read_ahead(pieces: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """``pieces`` read by a thread while the caller works on the previous ones: InfluxDB goes on
    sending (it would wait for a full socket buffer otherwise) while a block is cut into columns
    (numpy releases the GIL for most of it). At most ``depth`` pieces wait in memory."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def pull() -> None:
        try:
            for piece in pieces:
                if not put(piece):
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the reading thread, raised there
            put(exc)
            return
        put(done)

    thread = threading.Thread(target=pull, name="influx-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, requests.RequestException):
                raise InfluxError(f"InfluxDB read failed: {item.__class__.__name__}", True) from None
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()  # the thread ends at its next piece (or when the response is closed)


def period_columns(influx: InfluxV1, period: Period, tz: ZoneInfo, chunk_size: int = 10000,
                   progress: bool = False, duplicates: DuplicateIds | None = None) -> DeliveryColumns:
    """The period's deliveries that count as `DeliveryColumns`, by the rule of
    `hub.store.deliveries` (`counted`), vectorised: each id's first point by time, voids
    left out, a delivery voided or corrected by a later record giving way to it. Points
    left out for their id go to ``duplicates``; without one, a line on standard error
    names them."""
    start, _ = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    width = 3 + len(FIELDS)
    parts: list[list[np.ndarray]] = [[] for _ in range(width)]
    superseded_ids = np.array([s.encode("utf-8") for s in superseded], dtype="S") if superseded else None
    # Points that do not count are dropped block by block (memory stays that of what is
    # paid), but their ids and times are kept: such a point still is its id's first one.
    dropped_ids: list[np.ndarray] = []
    dropped_ns: list[np.ndarray] = []
    count = 0
    blocks = csv_blocks(influx, period_query(period, tz), chunk_size)
    carried = b""
    for block in blocks:
        block = carried + block
        if block.count(b'"') % 2:  # a quoted field goes on in the next block
            carried = block
            continue
        carried = b""
        if block.startswith(b"name,tags,") or b"\nname,tags," in block:
            block = _without_headers(block)
        columns = split_block(block, width, WANTED)
        if columns is None:  # quoted fields (a comma in a reason): this block through the csv module
            columns = _slow_columns(block, width)
        read = len(columns[2])
        # Voids, and deliveries a later record voids or corrects, are left out now.
        keep = columns[3 + KIND] != b"void"
        if superseded_ids is not None:
            keep &= ~np.isin(columns[3 + ID], superseded_ids)
        if not keep.all():
            dropped_ids.append(columns[3 + ID][~keep])
            dropped_ns.append(columns[2][~keep].astype(np.int64))
            columns = [None if c is None else c[keep] for c in columns]
        for j, column in enumerate(columns):
            if column is not None and j != 3 + KIND:
                parts[j].append(column.astype(np.int64) if j == 2 else column)  # time: ns, as integers now
        count += read
        if progress and count // 100_000 != (count - read) // 100_000:
            print(f"\r{period}: {count:,} deliveries read", end="", file=sys.stderr, flush=True)
    if carried:
        raise InfluxError("InfluxDB answered a CSV with an unterminated quoted field", False)
    if progress and count >= 100_000:
        print(f"\r{period}: {count:,} deliveries read", file=sys.stderr, flush=True)
    col = {name: _concat(parts[3 + i]) for i, name in enumerate(FIELDS) if name != "kind"}
    col["ts_ns"] = np.concatenate(parts[2]) if parts[2] else np.zeros(0, dtype=np.int64)
    del parts
    found = DuplicateIds() if duplicates is None else duplicates
    first = first_point_mask(col["id"], col["ts_ns"], _concat(dropped_ids),
                             np.concatenate(dropped_ns) if dropped_ns else np.zeros(0, dtype=np.int64), found)
    if first is not None:
        col = {name: values[first] for name, values in col.items()}
    if duplicates is None:
        found.warn(str(period))
    col["accepted"] = col["accepted"] == b"true"
    return build_columns(col)


def first_point_mask(ids: np.ndarray, ns: np.ndarray, other_ids: np.ndarray, other_ns: np.ndarray,
                     duplicates: DuplicateIds) -> np.ndarray | None:
    """Which of the points (``ids``, times ``ns``) are their id's first by time, counting
    the points already left out (``other_ids`` at ``other_ns``) too: `first_points` of
    `hub.store.deliveries` on columns. None when every id is read once (the usual case:
    one sort); else a mask, and the others' ids in ``duplicates``."""
    every = _concat([a for a in (ids, other_ids) if len(a)]) if len(other_ids) else ids
    if len(every) < 2:
        return None
    if len(np.unique(every)) == len(every):
        return None
    times = np.concatenate([ns, other_ns])
    order = np.lexsort((times, every))          # by id, then by time (stable: ties keep read order)
    ordered = every[order]
    later = np.zeros(len(every), dtype=bool)
    later[order[1:]] = ordered[1:] == ordered[:-1]
    for ident, points in zip(*np.unique(every[later], return_counts=True)):
        duplicates.add(ident.decode("utf-8"), int(points))
    first = ~later[:len(ids)]
    return None if first.all() else first


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return np.zeros(0, dtype="S1")
    width = max(a.dtype.itemsize for a in arrays)
    return np.concatenate([a.astype(f"S{width}") for a in arrays])


def _without_headers(block: bytes) -> bytes:
    lines = block.split(b"\n")
    header = lines[0] if lines[0].startswith(b"name,tags,") else None
    if header is not None and header != HEADER:
        raise InfluxError(f"InfluxDB answered unexpected columns: {header[:200].decode(errors='replace')}", False)
    return b"\n".join(line for line in lines if not line.startswith(b"name,tags,"))


def _slow_columns(data: bytes, width: int) -> list[np.ndarray]:
    rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8"))) if row and row[0] != "name"]
    if any(len(row) != width for row in rows):
        raise InfluxError("InfluxDB answered a CSV line with another number of fields", False)
    return [np.array([row[j].encode("utf-8") for row in rows], dtype="S") for j in range(width)]
