"""The chain check of a whole batch in one SQLite transaction.

Each sealed delivery's `prev_hash` must be its predecessor's `hash`
(docs/seal.md). The hub keeps every (station, epoch, seq) -> (hash,
prev_hash) it has seen in the `links` table of `chain.sqlite3` and compares
each record with both neighbours already known, so records may arrive in
any order (a replay, a backlog, several hubs sharing one subscription).

The same transaction keeps the index of delivery ids (`ids` table): one
id is one delivery. An unchanged re-send (same id, same hash) is nothing;
a record with a known id and another hash is `id_reused`, and it is refused
(never a second payable point), whatever seq or epoch it claims.

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
from hashlib import blake2b
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


def id_key(center: str, station: str, ident: str) -> int:
    """The index's key of a delivery id: 64 bits of BLAKE2b over center,
    station and id. A small integer key keeps the index's rows short, and
    with it the pages each batch writes: the index is on the hub's hot path.
    Two ids of one station meeting on a key (about one chance in 10^10 over
    a million deliveries) would be reported as a reuse and dead-lettered,
    never lost."""
    digest = blake2b(f"{center}\x1f{station}\x1f{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _content_key(record_hash: str) -> bytes:
    """Enough of a record's hash to tell two contents apart (128 bits)."""
    return bytes.fromhex(record_hash[:32])


def _known_ids(db: sqlite3.Connection, keys: list[int]) -> dict[int, tuple[bytes, int]]:
    """id key -> (content key, seq) of the deliveries the hub already took."""
    found: dict[int, tuple[bytes, int]] = {}
    for start in range(0, len(keys), _CHUNK):
        part = keys[start:start + _CHUNK]
        marks = ",".join("?" * len(part))
        for key, content, seq in db.execute(f"SELECT key, content, seq FROM ids WHERE key IN ({marks})", part):
            found[key] = (content, seq)
    return found


def check_links(db: sqlite3.Connection, records: Iterable[dict]) -> list[LinkFinding]:
    """`check_batch`'s findings alone (tests, `ChainWatch.observe`)."""
    return check_batch(db, records)[0]


def check_batch(db: sqlite3.Connection, records: Iterable[dict]) -> tuple[list[LinkFinding], dict[int, str]]:
    """Check and record a batch of sealed deliveries (dicts with center,
    station, seq, hash, prev_hash, id and optionally epoch) inside the
    caller's transaction; the findings in arrival order, and the records to
    refuse: {position in `records`: why}.

    Same verdicts as checking the records one by one in that order: an
    identical re-send is nothing; a record whose id the hub already took
    with another hash is `id_reused`, refused and not recorded; a different
    record on a known seq is `seq_reused`; a record that does not follow its
    predecessor or is not followed by its successor is `chain`."""
    by_chain: dict[ChainKey, list[tuple[int, dict]]] = {}
    for order, record in enumerate(records):
        if record.get("hash"):
            key = (record["center"], record["station"], record.get("epoch") or "")
            by_chain.setdefault(key, []).append((order, record))
    findings: list[tuple[int, LinkFinding]] = []
    refused: dict[int, str] = {}
    new_rows = []
    new_ids = []
    id_keys = {order: id_key(record["center"], record["station"], str(record["id"]))
               for chain_records in by_chain.values() for order, record in chain_records}
    known = _known_ids(db, sorted(set(id_keys.values())))
    for key, chain_records in by_chain.items():
        wanted = set()
        for _, record in chain_records:
            seq = int(record["seq"])
            wanted.update((seq - 1, seq, seq + 1))
        links = _known(db, key, wanted)
        for order, record in chain_records:
            seq = int(record["seq"])
            where = (key[0], key[1], seq, record.get("id"))
            ident, content = id_keys[order], _content_key(record["hash"])
            taken = known.get(ident)
            if taken is not None and taken[0] != content:
                why = f"a different record (seq {taken[1]}) already had this delivery id"
                findings.append((order, (*where, "id_reused", why)))
                refused[order] = why
                continue
            if taken is None:
                known[ident] = (content, seq)
                new_ids.append((ident, content, seq))
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
    if new_ids:
        db.executemany("INSERT INTO ids (key, content, seq) VALUES (?,?,?)", new_ids)
    findings.sort(key=lambda pair: pair[0])     # stable: a record's own findings keep their order
    return [finding for _, finding in findings], refused


# One row per delivery id the hub took: its key (id_key), what its content
# was (the first 128 bits of its hash) and its seq, for the finding's words.
IDS_TABLE = """CREATE TABLE IF NOT EXISTS ids (
    key INTEGER PRIMARY KEY, content BLOB NOT NULL, seq INTEGER NOT NULL)"""
