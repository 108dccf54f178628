"""The officers who may log in to the dashboard, and what guards the login.

Passwords are kept as salted scrypt hashes (hashlib, standard library) in
`DATA_DIR/web-users.json`; the cookie-signing secret in `DATA_DIR/web-secret`,
made once with `secrets` and readable by the hub's user only. Repeated
failed logins from one address make it wait (`LoginThrottle`).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path

from milk_common.secret_files import hash_secret, secret_matches, write_private

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8


class UsersError(ValueError):
    """A bad user name or password given to `milk-hub users add`: `key` names the
    text in the `dashboard` catalog, `values` fill it."""

    def __init__(self, key: str, **values) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class Users:
    """`DATA_DIR/web-users.json`: {name: scrypt record}."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "web-users.json"
        self._dummy = hash_secret(secrets.token_hex(8))

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
        users[name] = hash_secret(password)
        write_private(self.path, json.dumps(users, indent=1, sort_keys=True))
        return new

    def check(self, name: str, password: str) -> bool:
        stored = self._load().get(name)
        if stored is None:
            secret_matches(password, self._dummy)   # the same work: timing tells no names
            return False
        return secret_matches(password, stored)


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
    write_private(path, text + "\n")
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
