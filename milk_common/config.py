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
from milk_common.i18n import process_language, translate

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# pydantic error types with a text of their own in the `config` catalog; any
# other type gets the generic "valor no válido" with pydantic's own detail.
_ERROR_TEXTS = {
    "extra_forbidden": "unknown_key", "missing": "missing_key",
    "int_parsing": "not_integer", "int_type": "not_integer", "int_from_float": "not_integer",
    "float_parsing": "not_number", "float_type": "not_number",
    "decimal_parsing": "not_number", "decimal_type": "not_number",
    "bool_parsing": "not_boolean", "bool_type": "not_boolean",
    "string_type": "not_text", "dict_type": "not_table", "list_type": "not_list",
    "greater_than": "greater_than", "greater_than_equal": "greater_than_equal",
    "less_than": "less_than", "less_than_equal": "less_than_equal",
    "literal_error": "one_of", "enum": "one_of",
    "string_too_short": "too_short", "string_too_long": "too_long",
    "string_pattern_mismatch": "bad_pattern",
}


def _text(key: str, lang: str | None, **values: object) -> str:
    return translate("config", key, lang or process_language(), **values)


def describe_validation_error(source: str, exc: ValidationError, lang: str | None = None) -> str:
    """`station.toml: [scale] baudrate: no es un número entero` (the first error,
    in the command's language)."""
    # A misspelt key also makes the right one "missing": name the typo first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = [str(p) for p in err["loc"]]
    ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
    key = _ERROR_TEXTS.get(err["type"])
    if key is None:
        detail = str(ctx.get("error", err["msg"])) if err["type"] == "value_error" else err["msg"]
        message = _text("invalid_value", lang, detail=detail)
    else:
        values = {"limit": ctx.get("gt", ctx.get("ge", ctx.get("lt", ctx.get("le", "")))),
                  "expected": ctx.get("expected", ""), "pattern": ctx.get("pattern", ""),
                  "length": ctx.get("min_length", ctx.get("max_length", ""))}
        message = _text(key, lang, **values)
    if len(loc) > 1:
        where = f"[{'.'.join(loc[:-1])}] {loc[-1]}"
    else:
        where = loc[0] if loc else _text("top_level", lang)
    more = _text("and_more", lang, count=len(exc.errors()) - 1) if len(exc.errors()) > 1 else ""
    return f"{source}: {where}: {message}{more}"


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: {_text('file_not_found', None)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {_text('not_toml', None, detail=exc)}") from None
    except OSError as exc:
        raise UserError(f"{path}: {_text('cannot_read', None, detail=exc.strerror)}") from None


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
