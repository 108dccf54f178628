"""The chain check of a whole batch in one SQLite transaction.

Each sealed delivery's `prev_hash` must be its predecessor's `hash`
(docs/seal.md). The hub keeps every (station, epoch, seq) -> (hash,
prev_hash) it has seen in the `links` table of `chain.sqlite3` and compares
each record with both neighbours already known, so records may arrive in
any order (a replay, a backlog, several hubs sharing one subscription).

Checking one record at a time cost one transaction, and so one disk sync,
per delivery: most of the hub's time. Here a batch reads the rows it needs
in a few statements, checks its records in arrival order against them and
against each other, and writes the new links at once. The transaction is
taken with BEGIN IMMEDIATE, so hubs sharing one data folder
(docs/scaling.md) check their batches one after the other: a record and its
neighbour handled by two hubs at the same moment still meet, whichever
commits second sees the first's link.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

# SQLite's bound on parameters per statement is 32766 here; stay well below.
_CHUNK = 500

ChainKey = tuple[str, str, str]          # center, station, epoch
# (center, station, seq, id, problem, detail): the fields of
# hub.ingest.integrity.Finding, which wraps them (this module stays below it).
LinkFinding = tuple[str, str, int, "str | None", str, str]


def _known(db: sqlite3.Connection, key: ChainKey, seqs: set[int]) -> dict[int, tuple[str, str]]:
    """The links already stored for these seqs of one chain: seq -> (hash, prev_hash)."""
    found: dict[int, tuple[str, str]] = {}
    wanted = sorted(seqs)
    if wanted and wanted[-1] - wanted[0] < 2 * len(wanted):     # a run of seqs: one range scan
        for seq, digest, prev in db.execute(
                "SELECT seq, hash, prev_hash FROM links WHERE center=? AND station=? AND epoch=? "
                "AND seq BETWEEN ? AND ?", (*key, wanted[0], wanted[-1])):
            if seq in seqs:
                found[seq] = (digest, prev)
        return found
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start:start + _CHUNK]
        marks = ",".join("?" * len(part))
        for seq, digest, prev in db.execute(
                f"SELECT seq, hash, prev_hash FROM links WHERE center=? AND station=? AND epoch=? "
                f"AND seq IN ({marks})", (*key, *part)):
            found[seq] = (digest, prev)
    return found


def check_links(db: sqlite3.Connection, records: Iterable[dict]) -> list[LinkFinding]:
    """Check and record a batch of sealed deliveries (dicts with center,
    station, seq, hash, prev_hash, id and optionally epoch) inside the
    caller's transaction; the findings in arrival order.

    Same verdicts as checking the records one by one in that order: an
    identical re-send is nothing, a different record on a known seq is
    `seq_reused`, a record that does not follow its predecessor or is not
    followed by its successor is `chain`."""
    by_chain: dict[ChainKey, list[tuple[int, dict]]] = {}
    for order, record in enumerate(records):
        if record.get("hash"):
            key = (record["center"], record["station"], record.get("epoch") or "")
            by_chain.setdefault(key, []).append((order, record))
    findings: list[tuple[int, LinkFinding]] = []
    new_rows = []
    for key, chain_records in by_chain.items():
        wanted = set()
        for _, record in chain_records:
            seq = int(record["seq"])
            wanted.update((seq - 1, seq, seq + 1))
        links = _known(db, key, wanted)
        for order, record in chain_records:
            seq = int(record["seq"])
            where = (key[0], key[1], seq, record.get("id"))
            same = links.get(seq)
            if same is not None:
                if same[0] != record["hash"]:
                    findings.append((order, (*where, "seq_reused",
                                             "a different record already had this sequence number")))
                continue
            prev_hash = record.get("prev_hash") or ""
            before, after = links.get(seq - 1), links.get(seq + 1)
            if before is not None and before[0] != record.get("prev_hash"):
                findings.append((order, (*where, "chain", f"does not follow record {seq - 1}: "
                                         "altered or removed at the station")))
            if after is not None and after[1] != record["hash"]:
                findings.append((order, (*where, "chain", f"record {seq + 1} does not follow it")))
            links[seq] = (record["hash"], prev_hash)
            new_rows.append((*key, seq, record["hash"], prev_hash))
    if new_rows:
        db.executemany("INSERT INTO links (center, station, epoch, seq, hash, prev_hash) "
                       "VALUES (?,?,?,?,?,?)", new_rows)
    findings.sort(key=lambda pair: pair[0])     # stable: a record's own findings keep their order
    return [finding for _, finding in findings]
