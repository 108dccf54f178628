"""The hub's payment ledger: closed (frozen) periods in one SQLite file.

Opt-in (``milk-hub payments --ledger FILE``); without it payments are
computed from the given files only, as before.

- **Closing** a period (``--close``) stores its statements.csv text with a
  SHA-256 checksum, each producer's row, every delivery it paid (id,
  litres, exact value) and the advances it knew. Triggers make these
  tables append-only: SQLite itself refuses to update or delete them.
- A **closed period is never recomputed**: asking for it again returns the
  stored statements.csv (after checking its checksum), whatever the inputs.
- The **next period** takes from the ledger: the previous period's
  ``carried_over`` as balance carried in, and the advances recorded at
  closing (so a second installment is deducted even if the advances file
  no longer lists the advance).
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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from hub.payments.engine import Adjustment, Fortnight
from hub.payments.errors import PaymentsError
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
"""
_FROZEN_TABLES = ("closed_period", "closed_row", "paid_delivery", "known_advance")


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


def _advance_key(a: Advance) -> tuple:
    return (a.producer, a.kind, str(a.amount), a.installments, str(a.first_period))


class Ledger:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.executescript(SCHEMA)
            for table in _FROZEN_TABLES:
                for action in ("UPDATE", "DELETE"):
                    self.db.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, 'closed periods are frozen'); END")
            self.db.commit()
        except sqlite3.Error as exc:
            raise PaymentsError(f"{self.path}: cannot open the ledger: {exc}") from None

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
            raise PaymentsError(f"{self.path}: period {period}: checksum mismatch, the ledger was altered")
        return ClosedPeriod(period, closed_at, text, stored)

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
        return [Advance(p, k, Decimal(a), n, Period.parse(f)) for p, k, a, n, f in self.db.execute(
            "SELECT producer, kind, amount, installments, first_period FROM known_advance "
            "WHERE recorded_in = (SELECT MAX(recorded_in) FROM known_advance)")]

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
                    raise PaymentsError(f"delivery {delivery.id} of {delivery.producer}: {exc}") from None
                liters = delivery.liters if delivery.accepted else ZERO
                paid = self._paid(delivery.id)
                paid_liters, paid_value = paid if paid is not None else (ZERO, ZERO)
                if paid is None or (liters, priced.value) != (paid_liters, paid_value):
                    adjustments.append(Adjustment(
                        delivery.producer, delivery.id, when, delivery.ts.astimezone(pricing.timezone),
                        liters - paid_liters, priced.value - paid_value,
                        "late" if paid is None else "corrected"))
        given = list(advances)
        counts = Counter(map(_advance_key, given))
        merged = list(given)
        for advance in self.known_advances():
            key = _advance_key(advance)
            if counts[key] > 0:
                counts[key] -= 1
            else:
                merged.append(advance)
        return LedgerInputs(own, adjustments, self.carried_in(period), merged)

    # -- closing

    def close(self, fortnight: Fortnight, statements_csv: str, advances: Iterable[Advance]) -> ClosedPeriod:
        """Freeze ``fortnight`` (computed with `inputs`, with its delivery lines)."""
        period = fortnight.period
        closed = self.closed_periods()
        if period in closed:
            raise PaymentsError(f"{self.path}: period {period} is already closed")
        if closed and period < closed[-1]:
            raise PaymentsError(f"{self.path}: period {period} is before the last closed period {closed[-1]}")
        if closed and period.previous() not in closed:
            raise PaymentsError(f"{self.path}: close period {period.previous()} before {period}")
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
            self.db.executemany("INSERT INTO known_advance VALUES (?, ?, ?, ?, ?, ?)", [
                (str(period), a.producer, a.kind, str(a.amount), a.installments, str(a.first_period))
                for a in advances])
        return ClosedPeriod(period, closed_at, statements_csv, digest)
