"""Writing output files so that a failure never leaves a half-written one.

Each file is written to a temporary name in the same directory and renamed
over the target: a rename within one file system is atomic, so readers see
either the old file or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from hub.payments.errors import PaymentsError, Text


def temporary_name(path: Path) -> Path:
    """A hidden, unique sibling of ``path`` to write before renaming."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_text_atomic(path: Path | str, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one rename; PaymentsError if it cannot."""
    # UTF-8, newlines as given (no translation): the same bytes as text.
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename; PaymentsError if it cannot."""
    path = Path(path)
    temporary = temporary_name(path)
    try:
        # Plain open (not mkstemp) so the file gets the usual umask permissions.
        with open(temporary, "xb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise PaymentsError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def staging_folder(out_dir: Path) -> Path:
    """A private folder inside ``out_dir`` where a whole set of outputs is written
    before it is moved into place (``out_dir`` is made first); PaymentsError if it cannot."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".statements-", dir=out_dir))
    except OSError as exc:
        raise PaymentsError(Text("cannot_write", path=out_dir, reason=exc.strerror or exc)) from None
