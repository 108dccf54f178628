"""The producer registry CSV, read the same way by the station and the hub.

Columns: `code, name` required; `active, lab_fat_pct, lab_date` optional
(further columns are ignored here). A bad row is refused whole, naming the
file, row and field, so a typo never pays the wrong producer.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from milk_common.contract.ids import KEYPAD_WORDS, PRODUCER_CODE


class RegistryError(ValueError):
    """A registry file or message that cannot be used (one line: where and why)."""


@dataclass(frozen=True)
class Producer:
    code: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class LabFat:
    """A Gerber test's fat %, used for the producer's deliveries for a while after."""
    fat_pct: Decimal
    tested_on: date


_TRUE = ("true", "1", "si", "sí")
_FALSE = ("false", "0", "no")


def parse_registry_rows(source: str, rows: Iterable[tuple[int, Mapping[str, str]]]
                        ) -> tuple[list[Producer], list[tuple[str, LabFat]]]:
    """(row number, {column: text}) pairs -> producers and lab fat results."""
    producers: list[Producer] = []
    lab: list[tuple[str, LabFat]] = []
    seen: set[str] = set()
    for number, row in rows:
        code = (row.get("code") or "").strip()
        if not PRODUCER_CODE.match(code):
            raise RegistryError(f"{source}: row {number}, field code: not a producer code: {code!r}")
        if code.lower() in KEYPAD_WORDS:
            raise RegistryError(f"{source}: row {number}, field code: {code!r} is a keypad command")
        if code in seen:
            raise RegistryError(f"{source}: row {number}, field code: {code!r} appears twice")
        seen.add(code)
        name = (row.get("name") or "").strip()
        active_text = (row.get("active") or "true").strip().lower()
        if active_text not in _TRUE + _FALSE:
            raise RegistryError(f"{source}: row {number}, field active: expected true or false")
        producers.append(Producer(code, name or code, active_text in _TRUE))
        fat_text = (row.get("lab_fat_pct") or "").strip()
        date_text = (row.get("lab_date") or "").strip()
        if fat_text or date_text:
            try:
                fat = Decimal(fat_text)
                if not (0 < fat < 20):
                    raise InvalidOperation
            except InvalidOperation:
                raise RegistryError(
                    f"{source}: row {number}, field lab_fat_pct: not a fat %: {fat_text!r}") from None
            try:
                tested = date.fromisoformat(date_text)
            except ValueError:
                raise RegistryError(f"{source}: row {number}, field lab_date: not a date "
                                    f"(YYYY-MM-DD): {date_text!r}") from None
            lab.append((code, LabFat(fat, tested)))
    return producers, lab


def read_registry_csv(path: str | Path) -> tuple[list[Producer], list[tuple[str, LabFat]]]:
    """The registry CSV at `path`; raises RegistryError naming file, row and field."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "code" not in [f.strip() for f in reader.fieldnames]:
                raise RegistryError(f"{path}: header must have a code column (code,name,...)")
            rows = [(i + 2, {k.strip(): v for k, v in row.items() if k}) for i, row in enumerate(reader)]
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_registry_rows(str(path), rows)


def latest_lab_fat(lab: Iterable[tuple[str, LabFat]]) -> dict[str, LabFat]:
    latest: dict[str, LabFat] = {}
    for code, result in lab:
        if code not in latest or result.tested_on > latest[code].tested_on:
            latest[code] = result
    return latest


def registry_message_rows(producers: Iterable[Producer], lab: Iterable[tuple[str, LabFat]]
                          ) -> list[dict]:
    """The `producers` list of a registry/1 message: codes, names, latest lab fat."""
    latest = latest_lab_fat(lab)
    return [{"code": p.code, "name": p.name, "active": p.active,
             "lab_fat_pct": str(latest[p.code].fat_pct) if p.code in latest else None,
             "lab_date": latest[p.code].tested_on.isoformat() if p.code in latest else None}
            for p in producers]
