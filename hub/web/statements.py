"""The producers' statements the dashboard links and serves, and where a period's come from.

- A **closed** period (closed in the payment ledger, `[payments] ledger`): the
  statements the ledger kept when it was closed, as they were closed and paid,
  whatever a later run (a dry run, another pricing) wrote in `statements_dir`.
- An **open** period, with `[payments] pricing`: computed now, for the one
  producer asked, from what InfluxDB holds (by the rule of `hub.store.deliveries`)
  and the ledger (carry-in, late deliveries of the last closed period, recorded
  advances), as `milk-hub payments --ledger` would; in the reader's language.
- An **open** period without it: the files `milk-hub payments --out` last wrote
  for that period under `[web] statements_dir`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.payments.errors import PaymentsError, Text
from hub.payments.periods import Period
from hub.payments.pricing import Pricing
from hub.store.influx import InfluxV1

MEDIA = {".txt": "text/plain; charset=utf-8", ".pdf": "application/pdf"}
_FILE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(txt|pdf)$")    # a producer code (contract) and a suffix


@dataclass
class Links:
    """A period's statements: {producer: [file names, as Paths]}, and where they come from:
    `closed` (the ledger's record), `closed_unkept` (closed before the ledger kept statements),
    `fresh` (computed when opened), `folder` (statements_dir), `none`."""

    source: str
    files: dict[str, list[Path]] = field(default_factory=dict)
    closed_at: str | None = None
    error: str | None = None           # the ledger could not be read: one line


def _can_draw_pdf() -> bool:
    try:
        import fpdf  # noqa: F401
    except ImportError:
        return False
    return True


class Statements:
    def __init__(self, ledger_path: Path, pricing: Pricing | None, statements_dir: Path | None,
                 influx: Callable[[], InfluxV1], chunk_size: int = 10000) -> None:
        self.ledger_path = ledger_path
        self.pricing = pricing
        self.statements_dir = statements_dir
        self.influx = influx
        self.chunk_size = chunk_size

    @property
    def configured(self) -> bool:
        return self.pricing is not None or self.statements_dir is not None or self.ledger_path.exists()

    def _ledger(self):
        """The ledger, read-only (the dashboard never writes it); None when there is none."""
        if not self.ledger_path.exists():
            return None
        from hub.payments.ledger import Ledger
        return Ledger(self.ledger_path, readonly=True)

    def links(self, period: Period, producers: Iterable[str], lang: str) -> Links:
        try:
            ledger = self._ledger()
            if ledger is not None:
                try:
                    closed_at = ledger.closed_at(period)
                    if closed_at is not None:
                        files = {p: [Path(n) for n in names] for p, names in ledger.closed_statements(period).items()}
                        return Links("closed" if files else "closed_unkept", files, closed_at)
                finally:
                    ledger.close_db()
        except PaymentsError as exc:
            return Links("none", error=exc.words(lang))
        except sqlite3.Error as exc:       # busy past its timeout while a period is being closed
            return Links("none", error=f"{self.ledger_path}: {exc}")
        if self.pricing is not None:
            suffixes = (".txt", ".pdf") if _can_draw_pdf() else (".txt",)
            return Links("fresh", {p: [Path(p + s) for s in suffixes] for p in producers
                                   if _FILE.match(p + ".txt")})
        if self.statements_dir is not None:
            files = folder_links(self.statements_dir, period)
            return Links("folder" if files else "none", files)
        return Links("none")

    def file(self, period: Period, name: str, lang: str,
             names: Mapping[str, str] | None = None) -> tuple[bytes, str] | None:
        """(content, media type) of the statement file `name` of `period`, None when there is
        none. PaymentsError when the ledger cannot be read or the statement not computed."""
        if not _FILE.match(name):
            return None
        suffix = Path(name).suffix
        try:
            ledger = self._ledger()
            if ledger is not None:
                try:
                    if ledger.closed_at(period) is not None:
                        content = ledger.closed_statement(period, name)       # its checksum verified
                        return None if content is None else (content, MEDIA[suffix])
                finally:
                    ledger.close_db()
            if self.pricing is not None:
                return self._fresh(period, Path(name).stem, suffix, lang, names)
        except sqlite3.Error as exc:       # busy past its timeout while a period is being closed
            raise PaymentsError(Text("ledger_unreadable", path=self.ledger_path, reason=exc)) from None
        if self.statements_dir is not None:
            for files in folder_links(self.statements_dir, period).values():
                for path in files:
                    if path.name == name:
                        return path.read_bytes(), MEDIA[suffix]
        return None

    def _fresh(self, period: Period, producer: str, suffix: str, lang: str,
               names: Mapping[str, str] | None) -> tuple[bytes, str] | None:
        fortnight = self.fortnight(period, producer)
        if producer not in {row.producer for row in fortnight.rows}:
            return None
        if suffix == ".pdf":
            if not _can_draw_pdf():
                return None
            from hub.payments.pdf import producer_statement_pdf
            return producer_statement_pdf(fortnight, producer, lang, names), MEDIA[suffix]
        from hub.payments.statements import render_producer_statement
        return render_producer_statement(fortnight, producer, lang, names=names).encode("utf-8"), MEDIA[suffix]

    def fortnight(self, period: Period, producer: str):
        """The open `period` computed now for `producer` alone (a producer's row depends on
        nothing of the others'), with the ledger's carry-in, adjustments and advances."""
        from hub.payments.ledger import open_period_fortnight
        from hub.store.deliveries import producer_period_deliveries
        db = self.influx()

        def read(p: Period):
            return producer_period_deliveries(db, producer, p, self.pricing.zone, self.chunk_size)
        ledger = self._ledger()
        try:
            return open_period_fortnight(period, read, self.pricing, [], ledger)
        finally:
            if ledger is not None:
                ledger.close_db()


def folder_links(statements_dir: Path, period: Period) -> dict[str, list[Path]]:
    """{producer: [statement files]} of `period` under the configured folder:
    `DIR/<period>/statements/` or, when `DIR/statements.csv` is that period's,
    `DIR/statements/`."""
    for base in (statements_dir / str(period), statements_dir):
        csv_path = base / "statements.csv"
        try:
            with csv_path.open(encoding="utf-8") as fh:
                fh.readline()
                first = fh.readline()
        except OSError:
            continue
        if not first.startswith(f"{period},"):
            continue
        found: dict[str, list[Path]] = {}
        for path in sorted((base / "statements").glob("*")):
            if path.suffix in (".pdf", ".txt") and path.is_file():
                found.setdefault(path.stem, []).append(path)
        return found
    return {}
