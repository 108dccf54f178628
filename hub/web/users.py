"""The officers who may log in to the dashboard, and what guards the login.

Passwords are kept as salted scrypt hashes (hashlib, standard library) in
`DATA_DIR/web-users.json`; the cookie-signing secret in `DATA_DIR/web-secret`,
made once with `secrets` and readable by the hub's user only. Repeated
failed logins from one address make it wait (`LoginThrottle`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# scrypt cost: n=2**14, r=8 uses 16 MiB and about 50 ms per check on a Pi 4,
# cheap for one login, costly for a guesser with a stolen file.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8


class UsersError(ValueError):
    """A bad user name or password given to `milk-hub users add`: `key` names the
    text in the `dashboard` catalog, `values` fill it."""

    def __init__(self, key: str, **values) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> dict:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32,
                            maxmem=64 * 1024 * 1024)
    return {"scheme": "scrypt", "n": n, "r": r, "p": p, "salt": salt.hex(), "hash": digest.hex()}


def password_ok(password: str, stored: dict) -> bool:
    if stored.get("scheme") != "scrypt":
        return False
    again = hash_password(password, bytes.fromhex(stored["salt"]), stored["n"], stored["r"], stored["p"])
    return hmac.compare_digest(again["hash"], stored["hash"])


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing it in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Users:
    """`DATA_DIR/web-users.json`: {name: scrypt record}."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "web-users.json"
        self._dummy = hash_password(secrets.token_hex(8))

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def names(self) -> list[str]:
        return sorted(self._load())

    def add(self, name: str, password: str) -> bool:
        """Add or replace a user; True when the user is new."""
        if not USER_NAME.match(name):
            raise UsersError("users.bad_name", name=name)
        if len(password) < MIN_PASSWORD:
            raise UsersError("users.short_password", chars=MIN_PASSWORD)
        users = self._load()
        new = name not in users
        users[name] = hash_password(password)
        _write_private(self.path, json.dumps(users, indent=1, sort_keys=True))
        return new

    def check(self, name: str, password: str) -> bool:
        stored = self._load().get(name)
        if stored is None:
            password_ok(password, self._dummy)   # the same work: timing tells no names
            return False
        return password_ok(password, stored)


def session_secret(data_dir: Path) -> str:
    """The secret that signs session cookies, made on first use and kept."""
    path = Path(data_dir) / "web-secret"
    try:
        text = path.read_text().strip()
        if len(text) >= 32:
            return text
    except FileNotFoundError:
        pass
    text = secrets.token_hex(32)
    _write_private(path, text + "\n")
    return text


class LoginThrottle:
    """After `max_failures` failed logins from one address within `lockout_s`, that
    address waits until `lockout_s` after its last failure. In memory: a restart
    forgets, which costs a guesser nothing it did not already have."""

    def __init__(self, max_failures: int = 5, lockout_s: float = 300.0, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(who, []) if now - t < self.lockout_s]
        if times:
            self._failures[who] = times
        else:
            self._failures.pop(who, None)
        return times

    def wait_s(self, who: str) -> float:
        """Seconds `who` must still wait before trying again (0: may try)."""
        with self._lock:
            now = self.clock()
            times = self._recent(who, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(self.lockout_s - (now - times[-1]), 0.0)

    def failed(self, who: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(who, now)
            self._failures.setdefault(who, []).append(now)
            if len(self._failures) > 10000:       # bound the memory a scan can take
                oldest = min(self._failures, key=lambda k: self._failures[k][-1])
                self._failures.pop(oldest, None)

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)
