"""The hub's configuration schema (`hub.toml`); keys in docs/hub-config.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from milk_common.config import Section, Zoned, load_model


class HubMqtt(Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    client_id: str = Field("milk-hub", min_length=1, max_length=64,
                           description="names the persistent session: keep it stable")
    keepalive_s: int = Field(30, ge=5)
    username: str | None = None
    password: str | None = None
    receive_maximum: int = Field(1000, ge=1, le=65535,
                                 description="unacknowledged messages the broker may send at once")


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


class HubIntegrity(Section):
    """Station keys for the delivery seals (milk_common/integrity.py)."""

    require_signature: bool = Field(False, description="refuse deliveries from stations without a key here")
    keys: dict[str, str] = Field(default_factory=dict,
                                 description='"center/station" -> the station\'s HMAC key')

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


class HubConfig(Zoned):
    data_dir: str = "/var/lib/milk-hub"
    mqtt: HubMqtt = HubMqtt()
    influx: HubInflux = HubInflux()
    integrity: HubIntegrity = HubIntegrity()
    alerts: HubAlerts = HubAlerts()



def load_hub_config(path: str | Path | None) -> HubConfig:
    """Load hub.toml; None gives the defaults (a local broker and InfluxDB)."""
    if path is None:
        return HubConfig()
    config = load_model(HubConfig, path)
    data = Path(config.data_dir)
    if not data.is_absolute():
        config = config.model_copy(update={"data_dir": str((Path(path).resolve().parent / data).resolve())})
    return config
