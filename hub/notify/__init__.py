"""Messages to producers and technicians through Apprise (SMS gateways,
WhatsApp, Telegram, e-mail, `json://` webhooks: one URL per destination).

- `messages.py`: the words of each message (pure; catalog `payments`);
- `send.py`: the one call into Apprise (a send that fails says why);
- `journal.py`: what was sent, so nothing is sent twice and a failure is
  tried again on the next run;
- `fortnight.py`: `milk-hub payments --notify`, one message per producer;
- `deliveries.py`: per-delivery messages from `milk-hub ingest` (`[notify]
  deliveries = true`), queued so a failed send never blocks the ingest;
- `urls.py`: Apprise's own check of a URL, and the old `[alerts] smtp_*` /
  `webhook_url` settings as Apprise URLs; `channel.py`: the alert channel.
"""
