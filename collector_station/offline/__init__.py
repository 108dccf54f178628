"""A station that cannot reach its hub alerts on its own (docs/offline-alerts.md).

The buzzer and the bench display sound for any tank in `break` already; when
the hub has been unreachable for longer than `[alerts] offline_sms_after_s`
while a tank is in break, the station also sends one SMS per break through a
USB GSM modem, because then no technician hears of it from the hub.

- `reach.py`: is the hub reachable (its retained liveness, the broker link)
- `policy.py`: when an SMS is due and what it says (pure)
- `modem.py`: the modem (Gammu), swappable
- `notifier.py`: the thread that ties them together, and what was sent
- `settings.py`: the `[alerts]` section
"""
