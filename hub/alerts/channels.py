"""Where alerts go: every Apprise URL of `[alerts]` (e-mail with the chart,
SMS gateways, Telegram, `json://` webhooks: hub/notify/channel.py, the old
`smtp_*` and `webhook_url` settings translated by hub/notify/urls.py), and
the MQTT alerts topic (retained current state per center), here."""

from __future__ import annotations

import json
import logging
import threading


from milk_common.contract import alerts_topic
from milk_common.mqtt import stop_loop

log = logging.getLogger(__name__)


class MqttAlertState:
    """Publishes the center's alerts topic (`alerts_topic`) retained: the center's active alerts."""

    def __init__(self, host: str, port: int, client_id: str, *, access=None) -> None:
        from milk_common.mqtt import make_client
        # access: the hub's [mqtt] section (TLS, username, password).
        self.client = make_client(access, client_id=client_id)
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
        stop_loop(self.client)
        self.client.disconnect()
