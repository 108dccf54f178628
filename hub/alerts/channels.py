"""Where alerts go: e-mail over SMTP (with the chart), a webhook (JSON POST),
and the MQTT alerts topic (retained current state per center)."""

from __future__ import annotations

import json
import logging
import smtplib
import threading
from email.message import EmailMessage

import requests

from milk_common.contract import alerts_topic

log = logging.getLogger(__name__)


class EmailChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, to: list[str], *, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender, self.to = host, port, sender, list(to)
        self.username, self.password, self.starttls, self.timeout_s = username, password, starttls, timeout_s

    def send(self, alert: dict, subject: str, body: str, chart_png: bytes | None) -> None:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(body)
        if chart_png:
            msg.add_attachment(chart_png, maintype="image", subtype="png",
                               filename=f"tanque-{alert.get('tank') or 'estacion'}.png")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.session = requests.Session()

    def send(self, alert: dict, subject: str, body: str, chart_png: bytes | None) -> None:
        payload = {"schema": "alert/1", **alert, "title": subject, "message": body}
        resp = self.session.post(self.url, json=payload, timeout=self.timeout_s)
        resp.raise_for_status()


class MqttAlertState:
    """Publishes the center's alerts topic (`alerts_topic`) retained: the center's active alerts."""

    def __init__(self, host: str, port: int, client_id: str, *, username: str | None = None,
                 password: str | None = None) -> None:
        import paho.mqtt.client as mqtt
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 30)
        self.client.connect_async(host, port, 30)
        self.client.loop_start()
        self._lock = threading.Lock()

    def publish(self, center: str, payload: dict) -> None:
        with self._lock:
            # paho queues while disconnected and sends on reconnect; retained
            # means a technician's app sees the current state when it subscribes.
            self.client.publish(alerts_topic(center), json.dumps(payload, ensure_ascii=False),
                                qos=1, retain=True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
