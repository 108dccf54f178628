"""Technician's checks of the clock and the GSM modem, at provisioning.

    collector-station clock --config station.toml [--json]
    collector-station sms-test --config station.toml [--to NUMBER]

`clock` says whether the station would record now, and what it found
(exit 0 trusted, 1 refused): the same probes and decision as the running
station (collector_station/clock.py). `sms-test` sends one short SMS
through `[alerts] modem_port` to `--to` or every `[alerts] sms_to`.
"""

from __future__ import annotations

import argparse
import json
import sys

from collector_station.errors import UserError
from collector_station.i18n import text


def cmd_clock(args: argparse.Namespace) -> int:
    from collector_station.clock import ClockProbes, judge
    from collector_station.config import load_station_config
    config = load_station_config(args.config)
    lang = config.language
    facts = ClockProbes(config.clock).facts()
    verdict = judge(config.clock.require_sync, facts)
    if args.json:
        print(json.dumps({"trusted": verdict.trusted, "status": verdict.status,
                          "require_sync": config.clock.require_sync, "sync": facts.sync,
                          "sync_source": facts.sync_source, "rtc": facts.rtc,
                          "now_utc": facts.now_utc.isoformat(timespec="seconds")}))
    else:
        reason = text(lang, f"clock_reason.{verdict.basis}")
        print(text(lang, "clock_trusted" if verdict.trusted else "clock_untrusted", reason=reason))
        sync = {True: "yes", False: "no", None: "unknown"}[facts.sync]
        print(text(lang, "clock_check_facts",
                   sync=text(lang, f"clock_sync.{sync}", source=facts.sync_source or "—"),
                   rtc=text(lang, f"clock_rtc.{facts.rtc}"),
                   now=facts.now_utc.astimezone(config.zone).isoformat(timespec="seconds"),
                   require=config.clock.require_sync))
    return 0 if verdict.trusted else 1


def cmd_sms_test(args: argparse.Namespace) -> int:
    from collector_station.config import load_station_config
    from collector_station.offline.modem import GammuModem, SmsError
    from collector_station.offline.settings import PHONE
    config = load_station_config(args.config)
    lang, alerts = config.language, config.alerts
    if not alerts.modem_port:
        raise UserError(f"{args.config}: [alerts] modem_port is not set (no modem to test)")
    numbers = [args.to] if args.to else list(alerts.sms_to)
    if not numbers:
        raise UserError(f"{args.config}: no number: give --to or set [alerts] sms_to")
    for number in numbers:
        if not PHONE.match(number):
            raise UserError(f"--to {number!r}: not a phone number (+ and 6-15 digits)")
    modem = GammuModem(alerts.modem_port, alerts.modem_connection)
    failed = 0
    try:
        for number in numbers:
            try:
                modem.send(number, text(lang, "sms_test_text", center=config.center,
                                        station=config.station))
                print(text(lang, "sms_test_sent", number=number))
            except SmsError as exc:
                failed += 1
                print(text(lang, "sms_failed_test", number=number, error=str(exc)), file=sys.stderr)
    finally:
        modem.close()
    return 1 if failed else 0
