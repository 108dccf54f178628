"""The hub's configuration schema (`hub.toml`); keys in docs/hub-config.md."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from milk_common.config import Section, known_timezone, load_model


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


class HubConfig(Section):
    timezone: str = "America/Lima"
    data_dir: str = "/var/lib/milk-hub"
    mqtt: HubMqtt = HubMqtt()
    influx: HubInflux = HubInflux()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_timezone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_hub_config(path: str | Path | None) -> HubConfig:
    """Load hub.toml; None gives the defaults (a local broker and InfluxDB)."""
    if path is None:
        return HubConfig()
    config = load_model(HubConfig, path)
    data = Path(config.data_dir)
    if not data.is_absolute():
        config = config.model_copy(update={"data_dir": str((Path(path).resolve().parent / data).resolve())})
    return config
