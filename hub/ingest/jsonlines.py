"""Appending records to the hub's JSON-lines files (dead letters, integrity findings)."""

from __future__ import annotations

import os
from pathlib import Path


def append_lines(path: Path, text: str) -> None:
    """Append whole lines in one write(2) on an O_APPEND file, then fsync:
    hubs sharing a data folder (docs/scaling.md) never interleave inside a
    line, and what is appended is on disk before the caller goes on (a dead
    letter before its PUBACK)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
