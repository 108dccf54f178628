"""Secrets a person types (a supervisor PIN, an officer's password) kept as
salted scrypt hashes, and the private files that hold them.

One format for both houses: `{"scheme": "scrypt", "n", "r", "p", "salt",
"hash"}` (hex). scrypt with n=2**14, r=8 costs about 50 ms and 16 MiB per
check on a Pi 4: cheap for one login or one void, costly for someone
guessing against a stolen file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


def hash_secret(secret: str, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
                p: int = SCRYPT_P) -> dict:
    """The stored record of `secret` (a new random salt unless one is given)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=64 * 1024 * 1024)
    return {"scheme": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(), "hash": digest.hex()}


def secret_matches(secret: str, stored: dict) -> bool:
    """Whether `secret` is the one `stored` was made from (constant-time compare)."""
    if stored.get("scheme") != "scrypt":
        return False
    again = hash_secret(secret, bytes.fromhex(stored["salt"]), int(stored["n"]), int(stored["r"]),
                        int(stored["p"]))
    return hmac.compare_digest(again["hash"], stored["hash"])


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, durably, replacing the old one in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
