"""`milk-hub payments ... --notify`: one message per producer with deliveries.

The numbers come from the statements.csv just written (or the frozen one of
a closed period), so the message says exactly what the statement says. What
was sent is remembered in `DIR/notifications.jsonl` and, with `--ledger`, in
the ledger's `notification` table: a sent message is never sent again (in
either), a failed one is sent again on the next run.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from milk_common.contract.registry import Producer
from milk_common.i18n import translate

from hub.notify.journal import NotificationJournal
from hub.notify.messages import fortnight_message, payment_date
from hub.notify.send import scheme_of, send_apprise
from hub.payments.periods import Period


@dataclass
class NotifySummary:
    sent: int = 0
    failed: int = 0
    already: int = 0
    no_url: int = 0
    failures: list[tuple[str, str, str]] | None = None   # (producer, scheme, error)


def statement_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row.get("producer") not in (None, "", "TOTAL")]


def notify_fortnight(out_dir: Path, period: Period, contacts: Mapping[str, Producer], *, currency: str,
                     pay_date: date | None, lang: str, ledger=None,
                     send: Callable[[str, str, str], str | None] = send_apprise,
                     now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> NotifySummary:
    """Send each producer with deliveries in `DIR/statements.csv` their message, once."""
    journal = NotificationJournal(out_dir / "notifications.jsonl")
    summary = NotifySummary(failures=[])
    key = str(period)
    for row in statement_rows(out_dir / "statements.csv"):
        code = row["producer"]
        if int(row.get("deliveries") or 0) == 0:
            continue
        if journal.status(key, code) == "sent" or (
                ledger is not None and ledger.notification_status(period, code) == "sent"):
            summary.already += 1
            continue
        producer = contacts.get(code)
        if producer is None or not producer.notify:
            summary.no_url += 1
            continue
        title, body = fortnight_message(row, period, producer.name, currency=currency,
                                        pay_date=pay_date, lang=lang)
        error = send(producer.notify, title, body)
        at = now().isoformat(timespec="seconds")
        entry = {"period": key, "producer": code, "status": "sent" if error is None else "failed",
                 "at": at, "channel": scheme_of(producer.notify),
                 "attempt": journal.attempts(key, code) + 1, "title": title, "body": body}
        if error is not None:
            entry["error"] = error
            summary.failed += 1
            summary.failures.append((code, scheme_of(producer.notify), error))
        else:
            summary.sent += 1
        journal.record(entry)
        if ledger is not None:
            ledger.record_notification(period, code, entry["status"], at, error or "")
    return summary


def notify_from_cli(args, period: Period, ledger) -> None:
    """The payments command's `--notify`, after DIR/statements.csv is written:
    contacts from `--producers CSV` or the hub's registry, the currency from
    the pricing file, the payment date from `[notify] payment_days_after`."""
    if not getattr(args, "notify", False):
        return
    from milk_common.contract.registry import RegistryError, read_registry_csv

    from hub.errors import UserError
    from hub.notify.urls import apprise_url_problem
    from hub.payments.pricing import load_pricing

    lang = args.lang or "es"
    config = None
    if args.config:
        from hub.config import load_hub_config
        config = load_hub_config(args.config)
    if getattr(args, "producers", None):
        try:
            producers, _ = read_registry_csv(args.producers, notify_check=apprise_url_problem)
        except RegistryError as exc:
            raise UserError(exc.text(lang)) from None
    elif config is not None:
        from hub.producers.registry import ProducerRegistry, registry_path
        registry = ProducerRegistry(registry_path(config.data_dir))
        producers = registry.all()
        registry.close()
    else:
        raise UserError(translate("payments", "notify_needs_registry", lang))
    days = config.notify.payment_days_after if config is not None else None
    summary = notify_fortnight(Path(args.out), period, {p.code: p for p in producers},
                               currency=load_pricing(args.pricing).currency,
                               pay_date=payment_date(period, days), lang=lang, ledger=ledger)
    for code, scheme, error in summary.failures or []:
        print(translate("payments", "notify_failed_one", lang, producer=code, scheme=scheme, error=error),
              file=sys.stderr)
    print(translate("payments", "notify_summary", lang, period=str(period), sent=summary.sent,
                    failed=summary.failed, already=summary.already, no_url=summary.no_url), file=sys.stderr)
