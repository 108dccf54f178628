"""Errors the hub reports to a user as one line, never as a traceback."""

from milk_common.errors import UserError

__all__ = ["UserError"]
