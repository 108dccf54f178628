"""Load a TOML config file into a pydantic model, with one-line errors.

Each service has one schema (pydantic models with `extra="forbid"`), so a
misspelt key is refused at start with its name, not ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from milk_common.errors import UserError

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """`station.toml: [scale] baudrate: Input should be a valid integer` (first error)."""
    # A misspelt key also makes the right one "missing": name the typo first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "missing required key"
    else:
        message = err["msg"]
    if len(loc) > 1:
        where = f"[{'.'.join(loc[:-1])}] {loc[-1]}"
    else:
        where = loc[0] if loc else "(top level)"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {where}: {message}{more}"


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def load_model(model: type[M], path: str | Path) -> M:
    data = load_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(str(path), exc)) from None


def known_timezone(value: str) -> str:
    """A pydantic validator body: an IANA zone name, or a clear error."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class Zoned(Section):
    """A config with a `timezone` key (IANA name), checked, and its ZoneInfo."""

    timezone: str = "America/Lima"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_timezone(value)

    @property
    def zone(self):
        from zoneinfo import ZoneInfo
        return ZoneInfo(self.timezone)
