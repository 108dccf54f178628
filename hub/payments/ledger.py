"""The hub's payment ledger: closed (frozen) periods in one SQLite file.

Opt-in (``milk-hub payments --ledger FILE``); without it payments are
computed from the given files only, as before.

- **Closing** a period (``--close``) stores its statements.csv text with a
  SHA-256 checksum, each producer's row, every delivery it paid (id,
  litres, exact value) and the advances it knew. Triggers make these
  tables append-only: SQLite itself refuses to update or delete them.
- A **closed period is never recomputed**: asking for it again returns the
  stored statements.csv (after checking its checksum), whatever the inputs.
  Closing also keeps each producer's printable statement as it was closed
  (``statements/<producer>.txt``, and ``.pdf`` when the run drew them, each
  with its own SHA-256): the dashboard and every reprint serve those, never
  whatever a later run left in an output folder.
- The **next period** takes from the ledger: the previous period's
  ``carried_over`` as balance carried in, and the advances recorded at
  closing (so a second installment is deducted even if the advances file
  no longer lists the advance).
- **Advances as records** (``milk-hub advances add|list|cancel``): each with
  its id, who entered it and when; never deleted, only cancelled (a trigger
  allows no other change). An advance whose id the ledger knows is counted
  once, whether it also comes from the advances CSV or from a closing.
- **Notifications** sent at the fortnight (``--notify``): the latest outcome
  per (period, producer), so a sent message is never sent again.
- A **late or corrected delivery** of a closed period (a delivery whose
  local time falls in a closed period and whose id was not paid there, or
  was paid with other litres or value) becomes an `Adjustment` of the
  period being computed: the difference with what was paid. Closing that
  period records the adjustment as paid, so it is never paid twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from hub.payments.advances import AdvanceError, AdvanceRecord, merge_advances
from hub.payments.engine import Adjustment, Fortnight
from hub.payments.errors import PaymentsError, Text, reason_of
from hub.payments.money import ZERO
from hub.payments.periods import Period, period_of
from hub.payments.pricing import Pricing, price_delivery
from hub.payments.records import Advance, Delivery

SCHEMA = """
CREATE TABLE IF NOT EXISTS closed_period (
    period TEXT PRIMARY KEY, closed_at TEXT NOT NULL, statements_csv TEXT NOT NULL, checksum TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS closed_row (
    period TEXT NOT NULL, producer TEXT NOT NULL, gross TEXT, fees TEXT, deductions TEXT,
    carried_over TEXT NOT NULL, net TEXT, PRIMARY KEY (period, producer));
CREATE TABLE IF NOT EXISTS paid_delivery (
    paid_in TEXT NOT NULL, delivery_id TEXT NOT NULL, period TEXT NOT NULL, producer TEXT NOT NULL,
    liters TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paid_delivery_id ON paid_delivery (delivery_id);
CREATE TABLE IF NOT EXISTS known_advance (
    recorded_in TEXT NOT NULL, producer TEXT NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL,
    installments INTEGER NOT NULL, first_period TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advance (
    id TEXT PRIMARY KEY, producer TEXT NOT NULL, kind TEXT NOT NULL, amount TEXT NOT NULL,
    installments INTEGER NOT NULL, first_period TEXT NOT NULL, entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', cancelled_at TEXT, cancelled_by TEXT);
CREATE TRIGGER IF NOT EXISTS advance_no_delete BEFORE DELETE ON advance
    BEGIN SELECT RAISE(ABORT, 'advances are never deleted: cancel them'); END;
CREATE TRIGGER IF NOT EXISTS advance_only_cancel BEFORE UPDATE ON advance
    WHEN OLD.cancelled_at IS NOT NULL OR NEW.cancelled_at IS NULL OR NEW.id IS NOT OLD.id
      OR NEW.producer IS NOT OLD.producer OR NEW.kind IS NOT OLD.kind OR NEW.amount IS NOT OLD.amount
      OR NEW.installments IS NOT OLD.installments OR NEW.first_period IS NOT OLD.first_period
      OR NEW.entered_by IS NOT OLD.entered_by OR NEW.entered_at IS NOT OLD.entered_at
    BEGIN SELECT RAISE(ABORT, 'an advance can only be cancelled, once'); END;
CREATE TABLE IF NOT EXISTS closed_statement (
    period TEXT NOT NULL, name TEXT NOT NULL, producer TEXT NOT NULL, content BLOB NOT NULL,
    checksum TEXT NOT NULL, PRIMARY KEY (period, name));
CREATE TABLE IF NOT EXISTS notification (
    period TEXT NOT NULL, producer TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (period, producer));
"""
_FROZEN_TABLES = ("closed_period", "closed_row", "paid_delivery", "known_advance", "closed_statement")


def checksum(statements_csv: str, paid: Iterable[tuple]) -> str:
    """SHA-256 of the statements.csv text and the sorted paid deliveries."""
    digest = hashlib.sha256(statements_csv.encode())
    digest.update(json.dumps(sorted(map(list, paid)), separators=(",", ":")).encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    period: Period
    closed_at: str
    statements_csv: str
    checksum: str


@dataclass(frozen=True, slots=True)
class LedgerInputs:
    """What the engine needs from the ledger for an open period."""

    deliveries: list[Delivery]  # the period's own deliveries
    adjustments: list[Adjustment]
    carried_in: dict[str, Decimal]
    advances: list[Advance]


class Ledger:
    def __init__(self, path: Path | str, readonly: bool = False):
        """Open (and, unless ``readonly``, create or bring up to date) the ledger at ``path``.
        ``readonly``: for readers that must never write it (the dashboard)."""
        self.path = Path(path)
        if readonly:
            try:
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                self.db.execute("SELECT 1 FROM closed_period LIMIT 1")
            except sqlite3.Error as exc:
                raise PaymentsError(Text("ledger_unreadable", path=self.path, reason=exc)) from None
            return
        try:
            self.db = sqlite3.connect(self.path)
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(known_advance)")}
            if "advance_id" not in columns:   # ledgers made before advances had ids
                self.db.execute("ALTER TABLE known_advance ADD COLUMN advance_id TEXT")
            for table in _FROZEN_TABLES:
                for action in ("UPDATE", "DELETE"):
                    self.db.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, 'closed periods are frozen'); END")
            self.db.commit()
        except sqlite3.Error as exc:
            raise PaymentsError(Text("ledger_unreadable", path=self.path, reason=exc)) from None

    def close_db(self) -> None:
        self.db.close()

    # -- reading

    def closed_periods(self) -> list[Period]:
        return sorted(Period.parse(p) for (p,) in self.db.execute("SELECT period FROM closed_period"))

    def closed(self, period: Period) -> ClosedPeriod | None:
        """The frozen period, its checksum verified; None when the period is open."""
        row = self.db.execute("SELECT closed_at, statements_csv, checksum FROM closed_period WHERE period = ?",
                              (str(period),)).fetchone()
        if row is None:
            return None
        closed_at, text, stored = row
        if checksum(text, self._paid_rows(period)) != stored:
            raise PaymentsError(Text("ledger_altered", path=self.path, period=period))
        return ClosedPeriod(period, closed_at, text, stored)

    def closed_at(self, period: Period) -> str | None:
        """When `period` was closed; None when it is open. Cheap: no checksum is verified
        (`closed` verifies the whole record; each statement file is verified when read)."""
        row = self.db.execute("SELECT closed_at FROM closed_period WHERE period = ?", (str(period),)).fetchone()
        return row[0] if row else None

    def closed_statements(self, period: Period) -> dict[str, list[str]]:
        """{producer: [file names]} of the statements kept when `period` was closed (none for
        periods closed before the ledger kept them)."""
        found: dict[str, list[str]] = {}
        try:
            rows = self.db.execute("SELECT producer, name FROM closed_statement WHERE period = ? "
                                   "ORDER BY producer, name", (str(period),)).fetchall()
        except sqlite3.OperationalError:    # a ledger made before statements were kept, opened read-only
            return {}
        for producer, name in rows:
            found.setdefault(producer, []).append(name)
        return found

    def closed_statement(self, period: Period, name: str) -> bytes | None:
        """A statement file kept when `period` was closed, its checksum verified; None when
        there is no such file."""
        try:
            row = self.db.execute("SELECT content, checksum FROM closed_statement WHERE period = ? AND name = ?",
                                  (str(period), name)).fetchone()
        except sqlite3.OperationalError:
            return None
        if row is None:
            return None
        content, stored = bytes(row[0]), row[1]
        if hashlib.sha256(content).hexdigest() != stored:
            raise PaymentsError(Text("ledger_altered", path=self.path, period=period))
        return content

    def closed_statement_files(self, period: Period) -> dict[str, bytes]:
        """Every statement file kept when `period` was closed: {name: content}."""
        return {name: self.closed_statement(period, name)
                for names in self.closed_statements(period).values() for name in names}

    def _paid_rows(self, paid_in: Period) -> list[tuple]:
        return list(self.db.execute(
            "SELECT delivery_id, period, producer, liters, value FROM paid_delivery WHERE paid_in = ?",
            (str(paid_in),)))

    def _paid(self, delivery_id: str) -> tuple[Decimal, Decimal] | None:
        """Litres and value paid so far for a delivery of a closed period (with its adjustments)."""
        rows = self.db.execute("SELECT liters, value FROM paid_delivery WHERE delivery_id = ?",
                               (delivery_id,)).fetchall()
        if not rows:
            return None
        return sum((Decimal(r[0]) for r in rows), ZERO), sum((Decimal(r[1]) for r in rows), ZERO)

    def known_advances(self) -> list[Advance]:
        return [Advance(p, k, Decimal(a), n, Period.parse(f), i) for p, k, a, n, f, i in self.db.execute(
            "SELECT producer, kind, amount, installments, first_period, advance_id FROM known_advance "
            "WHERE recorded_in = (SELECT MAX(recorded_in) FROM known_advance)")]

    # -- advances as records

    def add_advance(self, record: AdvanceRecord) -> None:
        a = record.advance
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO advance (id, producer, kind, amount, installments, first_period, "
                    "entered_by, entered_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.id, a.producer, a.kind, str(a.amount), a.installments, str(a.first_period),
                     record.entered_by, record.entered_at, record.note))
        except sqlite3.IntegrityError:
            raise AdvanceError("id_taken", value=a.id) from None

    def advance_records(self, producer: str | None = None) -> list[AdvanceRecord]:
        """Every recorded advance (cancelled ones too), oldest first."""
        query = ("SELECT id, producer, kind, amount, installments, first_period, entered_by, entered_at, "
                 "note, cancelled_at, cancelled_by FROM advance")
        rows = (self.db.execute(query + " WHERE producer = ? ORDER BY entered_at, id", (producer,))
                if producer else self.db.execute(query + " ORDER BY entered_at, id"))
        return [AdvanceRecord(Advance(p, k, Decimal(a), n, Period.parse(f), i), by, at, note, c_at, c_by)
                for i, p, k, a, n, f, by, at, note, c_at, c_by in rows]

    def cancel_advance(self, advance_id: str, by: str, at: str) -> AdvanceRecord:
        """Cancel a recorded advance: installments of open periods are no longer deducted
        (what closed periods deducted stays). AdvanceError when unknown or already cancelled."""
        found = [r for r in self.advance_records() if r.id == advance_id]
        if not found:
            raise AdvanceError("unknown", value=advance_id)
        if not found[0].active:
            raise AdvanceError("already_cancelled", value=advance_id, at=found[0].cancelled_at,
                               by=found[0].cancelled_by)
        with self.db:
            self.db.execute("UPDATE advance SET cancelled_at = ?, cancelled_by = ? WHERE id = ?",
                            (at, by, advance_id))
        return [r for r in self.advance_records() if r.id == advance_id][0]

    def closed_rows(self, producer: str) -> list[tuple[Period, dict[str, Decimal]]]:
        """A producer's frozen statement rows, oldest first: gross, fees, deductions, carried_over, net."""
        rows = self.db.execute("SELECT period, gross, fees, deductions, carried_over, net FROM closed_row "
                               "WHERE producer = ?", (producer,)).fetchall()
        out = [(Period.parse(p), {k: Decimal(v) for k, v in zip(
            ("gross", "fees", "deductions", "carried_over", "net"), values) if v is not None})
            for p, *values in rows]
        return sorted(out, key=lambda item: item[0])

    def paid_liters(self, producer: str) -> dict[Period, Decimal]:
        """Litres paid per closed period to a producer (adjustments included, in the period that paid them)."""
        out: dict[Period, Decimal] = {}
        for paid_in, liters in self.db.execute(
                "SELECT paid_in, liters FROM paid_delivery WHERE producer = ?", (producer,)):
            key = Period.parse(paid_in)
            out[key] = out.get(key, ZERO) + Decimal(liters)
        return out

    def paid_counts(self, producer: str) -> dict[Period, int]:
        """Deliveries paid per closed period to a producer (its own deliveries, not adjustments)."""
        return {Period.parse(p): n for p, n in self.db.execute(
            "SELECT paid_in, COUNT(*) FROM paid_delivery WHERE producer = ? AND paid_in = period "
            "GROUP BY paid_in", (producer,))}

    # -- notifications sent at the fortnight

    def notification_status(self, period: Period, producer: str) -> str | None:
        row = self.db.execute("SELECT status FROM notification WHERE period = ? AND producer = ?",
                              (str(period), producer)).fetchone()
        return row[0] if row else None

    def record_notification(self, period: Period, producer: str, status: str, at: str,
                            detail: str = "") -> None:
        """Remember a send's outcome; a `sent` one is never overwritten."""
        with self.db:
            self.db.execute(
                "INSERT INTO notification VALUES (?, ?, ?, ?, ?) ON CONFLICT (period, producer) DO UPDATE "
                "SET status = excluded.status, at = excluded.at, detail = excluded.detail "
                "WHERE notification.status != 'sent'", (str(period), producer, status, at, detail))

    def carried_in(self, period: Period) -> dict[str, Decimal]:
        """The previous period's carried_over, when that period is closed."""
        return {producer: Decimal(amount) for producer, amount in self.db.execute(
            "SELECT producer, carried_over FROM closed_row WHERE period = ?", (str(period.previous()),))
            if Decimal(amount)}

    # -- computing an open period

    def inputs(self, period: Period, deliveries: Iterable[Delivery], pricing: Pricing,
               advances: Iterable[Advance]) -> LedgerInputs:
        """Split ``deliveries`` into the period's own and adjustments to closed periods; add the
        carried-in balances and the advances the ledger knows (each advance counted once)."""
        closed = set(self.closed_periods())
        own: list[Delivery] = []
        adjustments: list[Adjustment] = []
        for delivery in deliveries:
            when = period_of(delivery.ts, pricing.timezone)
            if when == period:
                own.append(delivery)
            elif when in closed:
                try:
                    priced = price_delivery(pricing, delivery.liters, delivery.solids_pct, delivery.accepted,
                                            delivery.milk_temp_c, delivery.weight_kg, delivery.fat_pct)
                except ValueError as exc:
                    raise PaymentsError(Text("delivery", id=delivery.id, producer=delivery.producer,
                                             reason=reason_of(exc))) from None
                liters = delivery.liters if delivery.accepted else ZERO
                paid = self._paid(delivery.id)
                paid_liters, paid_value = paid if paid is not None else (ZERO, ZERO)
                if paid is None or (liters, priced.value) != (paid_liters, paid_value):
                    adjustments.append(Adjustment(
                        delivery.producer, delivery.id, when, delivery.ts.astimezone(pricing.timezone),
                        liters - paid_liters, priced.value - paid_value,
                        "late" if paid is None else "corrected"))
        merged = merge_advances(advances, self.advance_records(), self.known_advances())
        return LedgerInputs(own, adjustments, self.carried_in(period), merged)

    # -- closing

    def close(self, fortnight: Fortnight, statements_csv: str, advances: Iterable[Advance],
              statements: Mapping[str, bytes] | None = None) -> ClosedPeriod:
        """Freeze ``fortnight`` (computed with `inputs`, with its delivery lines), with the
        producers' printable ``statements`` ({``<producer>.txt`` or ``.pdf``: content})."""
        period = fortnight.period
        closed = self.closed_periods()
        if period in closed:
            raise PaymentsError(Text("already_closed", path=self.path, period=period))
        if closed and period < closed[-1]:
            raise PaymentsError(Text("before_last_closed", path=self.path, period=period, last=closed[-1]))
        if closed and period.previous() not in closed:
            raise PaymentsError(Text("close_in_order", path=self.path, previous=period.previous(), period=period))
        paid = []
        for row in fortnight.rows:
            for line in row.lines:
                paid.append((line.id, str(period), row.producer,
                             str(line.liters if line.accepted else ZERO), str(line.value)))
            for a in row.adjustments:
                paid.append((a.delivery_id, str(a.period), a.producer, str(a.liters), str(a.value)))
        digest = checksum(statements_csv, paid)
        closed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.db:
            self.db.execute("INSERT INTO closed_period VALUES (?, ?, ?, ?)",
                            (str(period), closed_at, statements_csv, digest))
            self.db.executemany("INSERT INTO closed_row VALUES (?, ?, ?, ?, ?, ?, ?)", [
                (str(period), r.producer, str(r.gross), str(r.fees), str(r.deductions), str(r.carried_over),
                 str(r.net)) for r in fortnight.rows])
            self.db.executemany("INSERT INTO paid_delivery VALUES (?, ?, ?, ?, ?, ?)",
                                [(str(period), *p) for p in paid])
            self.db.executemany("INSERT INTO closed_statement VALUES (?, ?, ?, ?, ?)", [
                (str(period), name, name.rpartition(".")[0], content, hashlib.sha256(content).hexdigest())
                for name, content in sorted((statements or {}).items())])
            self.db.executemany(
                "INSERT INTO known_advance (recorded_in, producer, kind, amount, installments, first_period, "
                "advance_id) VALUES (?, ?, ?, ?, ?, ?, ?)", [
                    (str(period), a.producer, a.kind, str(a.amount), a.installments, str(a.first_period),
                     a.id) for a in advances])
        return ClosedPeriod(period, closed_at, statements_csv, digest)


def open_period_fortnight(period: Period, read: Callable[[Period], list[Delivery]], pricing: Pricing,
                          advances: list[Advance], ledger: Ledger | None) -> Fortnight:
    """An open period computed as `milk-hub payments` computes it, for `milk-hub payments`
    and the dashboard alike: `read(period)` gives its deliveries (all producers' or one
    producer's); with a ledger, the late deliveries of the last closed period become
    adjustments, and the carry-in, adjustments and recorded advances come in."""
    from hub.payments.columnar import compute_fortnight_columnar
    deliveries = read(period)
    carried_in, adjustments = {}, []
    if ledger is not None:
        if ledger.closed(period.previous()) is not None:
            deliveries += read(period.previous())
        inputs = ledger.inputs(period, deliveries, pricing, advances)
        deliveries, adjustments, carried_in, advances = (
            inputs.deliveries, inputs.adjustments, inputs.carried_in, inputs.advances)
    return compute_fortnight_columnar(period, deliveries, pricing, advances, carried_in, adjustments)
