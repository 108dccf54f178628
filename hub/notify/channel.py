"""An alert channel over one Apprise URL (e-mail, SMS gateway, Telegram,
`json://` webhook, ...), for the alert engine (hub/alerts/engine.py): one
channel per URL, so a destination that fails does not silence the others."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hub.notify.send import scheme_of, send_apprise


class AlertSendError(RuntimeError):
    """The destination did not take the alert (the engine logs it and goes on)."""


class AppriseChannel:
    def __init__(self, url: str, send=send_apprise) -> None:
        self.url, self._send = url, send
        self.name = f"apprise:{scheme_of(url)}"

    def send(self, alert: dict, subject: str, body: str, chart_png: bytes | None) -> None:
        with tempfile.TemporaryDirectory(prefix="milk-alert-") as folder:
            attachments = []
            if chart_png:
                # Apprise attaches files by path; the name is what the technician sees.
                chart = Path(folder) / f"tanque-{alert.get('tank') or 'estacion'}.png"
                chart.write_bytes(chart_png)
                attachments.append(str(chart))
            error = self._send(self.url, subject, body, attachments)
        if error is not None:
            raise AlertSendError(error)
