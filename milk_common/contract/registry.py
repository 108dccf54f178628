"""The producer registry CSV, read the same way by the station and the hub.

Columns: `code, name` required; `active, lab_fat_pct, lab_date, phone,
notify` optional (further columns are ignored here). A bad row is refused
whole with one line naming the file, row and field (Spanish by default,
texts in the `payments` catalog), so a typo never pays or notifies the wrong
producer.

`phone` is written the international way (E.164): `+`, the country code and
the number, 8 to 15 digits in all; spaces, hyphens, dots and parentheses may
be used for reading and are dropped (`+591 71-234-567` is kept as
`+59171234567`). `notify` is an Apprise URL (`json://`, `mailto://`,
`tgram://`, ...), checked with Apprise's own parser where Apprise is
installed (the hub) and by its shape (`scheme://...`) where it is not (a
bench). Neither column leaves the hub (`registry_message_rows`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from milk_common.contract.ids import KEYPAD_WORDS, PRODUCER_CODE
from milk_common.i18n import language_from_environment, translate


class RegistryError(ValueError):
    """A registry file or message that cannot be used (one line: where and why).

    `key` and `values` name the text (catalog `payments`, keys `registry_*`);
    `str()` is it in the environment's language, `text(lang)` in another.
    """

    def __init__(self, key: str, **values: object) -> None:
        self.key, self.values = key, values
        super().__init__(self.text())

    def text(self, lang: str | None = None) -> str:
        return translate("payments", f"registry_{self.key}", lang or language_from_environment(),
                         **self.values)


@dataclass(frozen=True)
class Producer:
    code: str
    name: str
    active: bool = True
    phone: str | None = None     # E.164, `+59171234567`; never sent to stations
    notify: str | None = None    # an Apprise URL; never sent to stations


@dataclass(frozen=True)
class LabFat:
    """A Gerber test's fat %, used for the producer's deliveries for a while after."""
    fat_pct: Decimal
    tested_on: date


_TRUE = ("true", "1", "si", "sí")
_FALSE = ("false", "0", "no")
_PHONE_READING_MARKS = re.compile(r"[\s().-]")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def normalize_phone(text: str) -> str | None:
    """`+591 71-234-567` -> `+59171234567`; None when it is not an E.164 number."""
    compact = _PHONE_READING_MARKS.sub("", text)
    return compact if E164.match(compact) else None


def url_shape_problem(url: str) -> str | None:
    """The check of a `notify` URL where Apprise is not installed (a bench):
    `scheme://something`, no spaces."""
    return None if _URL_SHAPE.match(url) else "scheme://..."


def notify_url_problem(url: str) -> str | None:
    """None for a usable `notify` URL, else a short reason: Apprise's own parser
    where Apprise is installed (the hub), the shape alone where it is not."""
    problem = url_shape_problem(url)
    if problem is not None:
        return problem
    try:
        import apprise
    except ImportError:
        return None
    import logging
    logger = logging.getLogger("apprise")
    before = logger.propagate
    logger.propagate = False       # its reasons go into our one line, not onto standard error
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        logger.propagate = before
    if plugin is not None:
        return None
    reasons = [line.strip(" :") for line in captured.getvalue().splitlines() if line.strip(" :")]
    return "; ".join(reasons[:2]) or "Apprise does not know this URL"


def parse_registry_rows(source: str, rows: Iterable[tuple[int, Mapping[str, str]]],
                        notify_check: Callable[[str], str | None] = notify_url_problem,
                        ) -> tuple[list[Producer], list[tuple[str, LabFat]]]:
    """(row number, {column: text}) pairs -> producers and lab fat results.

    `notify_check(url)` returns None for a usable notification URL, else a
    short reason (the hub passes Apprise's parser)."""
    producers: list[Producer] = []
    lab: list[tuple[str, LabFat]] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        where = {"source": source, "row": number}
        code = (row.get("code") or "").strip()
        if not code:
            raise RegistryError("missing_code", **where)
        if not PRODUCER_CODE.match(code):
            raise RegistryError("bad_code", **where, value=code)
        if code.lower() in KEYPAD_WORDS:
            raise RegistryError("keypad_word", **where, value=code)
        if code in seen:
            raise RegistryError("duplicate_code", **where, value=code, first=seen[code])
        seen[code] = number
        name = (row.get("name") or "").strip()
        active_text = (row.get("active") or "true").strip().lower()
        if active_text not in _TRUE + _FALSE:
            raise RegistryError("bad_active", **where, value=active_text)
        phone_text = (row.get("phone") or "").strip()
        phone = normalize_phone(phone_text) if phone_text else None
        if phone_text and phone is None:
            raise RegistryError("bad_phone", **where, value=phone_text)
        notify = (row.get("notify") or "").strip() or None
        if notify is not None:
            problem = notify_check(notify)
            if problem is not None:
                raise RegistryError("bad_notify", **where, value=notify, reason=problem)
        producers.append(Producer(code, name or code, active_text in _TRUE, phone, notify))
        fat_text = (row.get("lab_fat_pct") or "").strip()
        date_text = (row.get("lab_date") or "").strip()
        if fat_text or date_text:
            try:
                fat = Decimal(fat_text)
                if not (0 < fat < 20):
                    raise InvalidOperation
            except InvalidOperation:
                raise RegistryError("bad_lab_fat", **where, value=fat_text) from None
            try:
                tested = date.fromisoformat(date_text)
            except ValueError:
                raise RegistryError("bad_lab_date", **where, value=date_text) from None
            lab.append((code, LabFat(fat, tested)))
    return producers, lab


def read_registry_csv(path: str | Path,
                      notify_check: Callable[[str], str | None] = notify_url_problem,
                      ) -> tuple[list[Producer], list[tuple[str, LabFat]]]:
    """The registry CSV at `path`; raises RegistryError naming file, row and field."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "code" not in [f.strip() for f in reader.fieldnames]:
                raise RegistryError("no_code_column", source=str(path))
            rows = [(i + 2, {k.strip(): v for k, v in row.items() if k}) for i, row in enumerate(reader)]
    except OSError as exc:
        raise RegistryError("unreadable", source=str(path), reason=exc.strerror) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RegistryError("unreadable", source=str(path), reason=str(exc)) from None
    return parse_registry_rows(str(path), rows, notify_check)


def latest_lab_fat(lab: Iterable[tuple[str, LabFat]]) -> dict[str, LabFat]:
    latest: dict[str, LabFat] = {}
    for code, result in lab:
        if code not in latest or result.tested_on > latest[code].tested_on:
            latest[code] = result
    return latest


def registry_message_rows(producers: Iterable[Producer], lab: Iterable[tuple[str, LabFat]]
                          ) -> list[dict]:
    """The `producers` list of a registry/1 message: codes, names, latest lab fat.

    Phones and notification URLs stay at the hub: a station needs neither,
    and a stolen bench should not hand out the producers' contacts."""
    latest = latest_lab_fat(lab)
    return [{"code": p.code, "name": p.name, "active": p.active,
             "lab_fat_pct": str(latest[p.code].fat_pct) if p.code in latest else None,
             "lab_date": latest[p.code].tested_on.isoformat() if p.code in latest else None}
            for p in producers]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did to a registry: `mode` is `merge` or `replace`."""
    mode: str
    added: int
    updated: int
    unchanged: int
    removed: int
    total: int


def merge_producers(existing: Iterable[Producer], incoming: Iterable[Producer], *, replace: bool,
                    kept_fields: Iterable[str] = ()) -> tuple[list[Producer], ImportSummary]:
    """The registry after importing `incoming` into `existing`, sorted by code.

    Merge (the default) adds new codes and updates known ones, leaving the
    others as they were; replace also removes every code the file lacks.
    `kept_fields` (`phone`, `notify`) are columns the file does not have: an
    updated producer keeps its stored value there instead of losing it.
    """
    before = {p.code: p for p in existing}
    after = {} if replace else dict(before)
    added = updated = unchanged = 0
    kept = tuple(kept_fields)
    for producer in incoming:
        old = before.get(producer.code)
        if old is not None and kept:
            producer = Producer(**{**producer.__dict__, **{f: getattr(old, f) for f in kept}})
        if old is None:
            added += 1
        elif old == producer:
            unchanged += 1
        else:
            updated += 1
        after[producer.code] = producer
    removed = len(before.keys() - after.keys())
    result = [after[code] for code in sorted(after)]
    return result, ImportSummary("replace" if replace else "merge", added, updated, unchanged,
                                 removed, len(result))


def registry_columns(path: str | Path) -> set[str]:
    """The column names of a registry CSV's header (to know which optional ones it has)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except OSError as exc:
        raise RegistryError("unreadable", source=str(path), reason=exc.strerror) from None
    return {name.strip() for name in header}
