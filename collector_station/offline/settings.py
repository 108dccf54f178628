"""The station's `[alerts]` section (docs/station-config.md)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from milk_common.config import Section

# An international number as a modem dials it: + and 6-15 digits.
PHONE = re.compile(r"^\+?[0-9]{6,15}$")


class AlertsConfig(Section):
    """What the station does on its own when the hub cannot hear it."""

    offline_sms_after_s: float = Field(900.0, gt=0,
                                       description="hub unreachable this long with a tank in break: SMS")
    sms_to: list[str] = Field(default_factory=list, description="technicians' phone numbers")
    modem_port: str | None = Field(None, description="the GSM modem's serial port (/dev/milk-modem); "
                                   "none: no modem fitted")
    modem_connection: str = Field("at", description="Gammu connection type (at, at115200...)")
    check_interval_s: float = Field(10.0, gt=0, description="how often the conditions are checked")
    retry_s: float = Field(120.0, gt=0, description="wait before trying a failed SMS again")

    @field_validator("sms_to")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        for number in value:
            if not PHONE.match(number):
                raise ValueError(f"{number!r} is not a phone number (+ and 6-15 digits, like +51987654321)")
        return value
