"""Alerts for technicians: cold-chain breaks, sensor faults, predicted misses
and silent stations, de-duplicated, re-notified until acknowledged.

`engine.AlertEngine` holds the rules (time passed in); `store.AlertStore`
keeps alerts in SQLite (shared by the running hub and `milk-hub alerts`);
`channels` sends them (MQTT retained state, SMTP e-mail with a chart,
webhook). See docs/coldchain.md.
"""
