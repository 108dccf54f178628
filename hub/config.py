"""The hub's configuration schema (`hub.toml`); keys in docs/hub-config.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from milk_common.config import Section, Zoned, load_model
from milk_common.mqtt import MqttAccess


class HubMqtt(MqttAccess):
    """Broker address and access (username, password or password_file, tls_ca:
    milk_common/mqtt.py, docs/security.md)."""

    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    client_id: str = Field("milk-hub", min_length=1, max_length=64,
                           description="names the persistent session: keep it stable")
    keepalive_s: int = Field(30, ge=5)
    receive_maximum: int = Field(500, ge=1, le=65535,
                                 description="unacknowledged messages the broker may send at once")
    shared_group: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="share the delivery, tank and shift subscriptions with the other hubs of this "
                    "group ($share/NAME/...); each hub needs its own client_id (docs/scaling.md)")


class HubInflux(Section):
    url: str = "http://127.0.0.1:8086"
    database: str = Field("milk", pattern=r"^[A-Za-z0-9_]+$")
    username: str | None = None
    password: str | None = None
    timeout_s: float = Field(10.0, gt=0)
    batch_size: int = Field(1000, ge=1, le=50000)
    flush_interval_s: float = Field(0.2, gt=0, description="longest wait to fill a batch")
    retry_max_s: float = Field(30.0, gt=0, description="longest wait between write retries")
    query_chunk_size: int = Field(10000, ge=100)
    create_database: bool = Field(True, description="CREATE DATABASE on start (InfluxDB 1.x); false "
                                  "for InfluxDB 2.x/3.x, whose bucket and v1 mapping are made there")


class HubIntegrity(Section):
    """Station keys for the delivery seals (milk_common/integrity.py)."""

    require_signature: bool = Field(True, description="refuse unsigned deliveries and those of stations "
                                    "without a key here; false only for tests and trials")
    keys: dict[str, str] = Field(default_factory=dict,
                                 description='"center/station" -> the station\'s HMAC key')
    keys_file: str = Field("station-keys.json", description="the key store `milk-hub provision` "
                           "writes (relative: in data_dir)")

    @field_validator("keys")
    @classmethod
    def _keys_ok(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        from milk_common.integrity import parse_key
        for name, key in value.items():
            if not re.match(r"^[a-z0-9_-]{1,32}/[a-z0-9_-]{1,32}$", name):
                raise ValueError(f"key name {name!r} must be center/station")
            parse_key(key)
        return value

    def key_for(self, center: str, station: str) -> bytes | None:
        from milk_common.integrity import parse_key
        text = self.keys.get(f"{center}/{station}")
        return parse_key(text) if text else None


class HubAlerts(Section):
    """Cold-chain and station alerts (docs/coldchain.md); off unless enabled."""

    enabled: bool = False
    language: Literal["es", "en"] = "es"
    renotify_min: float = Field(60.0, gt=0, description="repeat an unacknowledged alert this often")
    silence_min: float = Field(15.0, gt=0, description="a station without messages this long is silent")
    tick_s: float = Field(10.0, gt=0, description="how often silence and re-notification are checked")
    chart_hours: float = Field(6.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_from: str = "milk-hub@localhost"
    smtp_to: list[str] = Field(default_factory=list)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    webhook_url: str | None = None
    timeout_s: float = Field(10.0, gt=0, description="per e-mail or webhook call")
    notify: list[str] = Field(default_factory=list,
                              description="Apprise URLs the alerts go to (smtp_* and webhook_url "
                                          "are translated into such URLs: hub/notify/urls.py)")


class HubNotify(Section):
    """Messages to producers through Apprise (hub/notify/, docs/payments.md)."""

    deliveries: bool = Field(False, description="a short message per stored delivery (litres, TS, "
                             "receipt code) to the producer's `notify` URL")
    language: Literal["es", "en"] = "es"
    payment_days_after: int | None = Field(None, ge=0, le=60,
                                           description="producers are paid this many days after the "
                                           "period's last day: the date goes into the fortnight message")
    retry_min_s: float = Field(30.0, gt=0, description="first wait before re-sending a failed "
                               "per-delivery message (doubles up to retry_max_s)")
    retry_max_s: float = Field(3600.0, gt=0)


class HubWeb(Section):
    """The officers' dashboard, `milk-hub web` (docs/dashboard.md)."""

    bind: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 for the LAN")
    port: int = Field(8080, gt=0, lt=65536)
    statements_dir: str | None = Field(None, description="where `milk-hub payments --out` writes: "
                                       "DIR/<period>/ or DIR itself; links to each producer's statement")
    cookie_secure: bool = Field(False, description="send the session cookie over HTTPS only "
                                "(set it when a TLS proxy is in front)")
    login_max_failures: int = Field(5, ge=1, description="failed logins before the address waits")
    login_lockout_s: float = Field(300.0, gt=0, description="how long it waits")


class HubPayments(Section):
    """The payment files the hub's readers take without being told (docs/hub-config.md)."""

    pricing: str | None = Field(None, description="the association's pricing file: the dashboard's TS "
                                "reference line and its statements of open periods (relative: to the "
                                "config file)")
    ledger: str | None = Field(None, description="the payment ledger periods are closed in "
                               "(`milk-hub payments --ledger`): the dashboard's statements of closed periods, "
                               "`milk-hub producer` and `advances` (default DATA_DIR/ledger.sqlite3)")


class HubBroker(Section):
    """Where `milk-hub provision` keeps the broker's access files (docs/security.md)."""

    dir: str = Field("/etc/mosquitto/milk", description="CA, server certificate, passwd, acl, users.json")
    pid_file: str | None = Field("/run/mosquitto/mosquitto.pid",
                                 description="the broker to send SIGHUP after a change")
    reload_command: str | None = Field(None, description='instead of the pid file, e.g. '
                                       '"systemctl reload mosquitto"')
    station_host: str | None = Field(None, description="the broker's address as stations reach it "
                                     "(default: [mqtt] host)")
    station_port: int | None = Field(None, gt=0, lt=65536, description="default: [mqtt] port")
    station_ca_path: str | None = Field(None, description="where a station keeps the CA certificate "
                                        "(default: the CA file here, for a station on this machine)")


class HubRecovery(Section):
    """Recovery by sequence number (docs/recovery.md): asking stations for
    what the hub lacks."""

    enabled: bool = True
    ask_after_s: float = Field(20.0, ge=0, description="a record missing this long is asked for")
    retry_s: float = Field(60.0, gt=0, description="asked again this often while still missing")
    max_outstanding: int = Field(2000, ge=1, description="records asked of one station and not yet back")
    tick_s: float = Field(1.0, gt=0, description="how often due requests are looked for")


class HubClock(Section):
    """Deliveries whose stamp cannot be right are stored but flagged
    (hub/ingest/timecheck.py, docs/clock.md)."""

    future_tolerance_s: float = Field(300.0, ge=0, description="stamped this far after arrival: flagged")
    late_after_days: float = Field(30.0, gt=0, description="arrived this long after its stamp: flagged")


class HubConfig(Zoned):
    data_dir: str = "/var/lib/milk-hub"
    language: Literal["es", "en"] | None = Field(
        None, description="language of milk-hub's messages and statements when --lang is not given "
        "(unset: English only when the locale says so, else Spanish)")
    mqtt: HubMqtt = HubMqtt()
    influx: HubInflux = HubInflux()
    integrity: HubIntegrity = HubIntegrity()
    alerts: HubAlerts = HubAlerts()
    notify: HubNotify = HubNotify()
    recovery: HubRecovery = HubRecovery()
    web: HubWeb = HubWeb()
    payments: HubPayments = HubPayments()
    broker: HubBroker = HubBroker()
    clock: HubClock = HubClock()

    @property
    def keys_path(self) -> Path:
        """The station key store (hub/security/keys.py)."""
        path = Path(self.integrity.keys_file)
        return path if path.is_absolute() else Path(self.data_dir) / path

    @property
    def ledger_path(self) -> Path:
        """The payment ledger: `[payments] ledger`, else DATA_DIR/ledger.sqlite3."""
        return Path(self.payments.ledger) if self.payments.ledger else Path(self.data_dir) / "ledger.sqlite3"



def with_client_id(config: HubConfig, client_id: str) -> HubConfig:
    """The config with another MQTT client id (`milk-hub ingest --client-id`),
    validated as in the file; a bad one is a UserError naming the option."""
    from pydantic import ValidationError

    from milk_common.config import describe_validation_error
    from milk_common.errors import UserError
    try:
        mqtt = HubMqtt.model_validate({**config.mqtt.model_dump(), "client_id": client_id})
    except ValidationError as exc:     # "--client-id: client_id: ..." in the command's language
        raise UserError(describe_validation_error("--client-id", exc)) from None
    return config.model_copy(update={"mqtt": mqtt})


def load_hub_config(path: str | Path | None) -> HubConfig:
    """Load hub.toml; None gives the defaults (a local broker and InfluxDB)."""
    if path is None:
        return HubConfig()
    config = load_model(HubConfig, path)
    here = Path(path).resolve().parent
    data = Path(config.data_dir)
    if not data.is_absolute():
        config = config.model_copy(update={"data_dir": str((here / data).resolve())})
    files = {key: str((here / value).resolve()) for key, value in config.payments.model_dump().items()
             if value and not Path(value).is_absolute()}
    if files:      # the payment files, as statements_dir, relative to the config file
        config = config.model_copy(update={"payments": config.payments.model_copy(update=files)})
    return config
