"""`milk-hub provision`: the steps, apart from the command line.

    provision_ca       CA + broker certificate + the hub's broker user
    provision_station  a station's broker user, HMAC key and config fragment
    revoke_station     broker user removed, key marked revoked (with the time)

Each writes files only; telling the running broker (SIGHUP) is the
caller's step (`broker.reload_broker`), so tests and the command share
these functions. devtools/servers.py runs the same steps for the demo and
the tests, which is how they use the production configuration.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hub.security import pki
from hub.security.broker import BrokerAccess, new_password, station_username
from hub.security.keys import read_store, write_store

_IDENT = re.compile(r"^[a-z0-9_-]{1,32}$")


class ProvisionError(Exception):
    """A refusal with a message key of the `hub` catalog and its values."""

    def __init__(self, key: str, **values) -> None:
        super().__init__(key)
        self.key, self.values = key, values


def parse_station_name(text: str) -> tuple[str, str]:
    center, _, station = text.partition("/")
    if not (_IDENT.match(center) and _IDENT.match(station)):
        raise ProvisionError("security.bad_name", name=text)
    return center, station


def write_secret(path: Path, text: str) -> None:
    """Mode 600; an existing file keeps its owner (the hub's user, given once by hand)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


@dataclass(frozen=True)
class StationAccess:
    """What a station needs to publish and be believed."""

    center: str
    station: str
    username: str
    password: str
    key_hex: str
    host: str
    port: int
    ca_path: str

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex)

    # The `[mqtt]` access keys (milk_common/mqtt.py), so it can make a client.
    tls_cert = tls_key = password_file = None

    @property
    def tls_ca(self) -> str:
        return self.ca_path

    def mqtt_lines(self) -> str:
        """The `[mqtt]` keys, without the header."""
        return (f'host = "{self.host}"\nport = {self.port}\ntls_ca = "{self.ca_path}"\n'
                f'username = "{self.username}"\npassword = "{self.password}"\n')

    def toml(self) -> str:
        """The station.toml fragment: `[mqtt]` and `[integrity]` (secret: mode 600)."""
        return (f"# Station {self.center}/{self.station}: made by `milk-hub provision station`.\n"
                f"# Secret: its password and key let anyone publish as this station.\n"
                f"[mqtt]\n{self.mqtt_lines()}\n[integrity]\nhmac_key = \"{self.key_hex}\"\n")


def provision_ca(folder: Path, names: list[str], *, hub_username: str, hub_password_file: Path,
                 renew_server: bool = True) -> None:
    """The CA (kept when it exists), a broker certificate for `names`, the hub's
    broker user with a new password in `hub_password_file`, the ACL."""
    pki.make_ca(folder)
    if renew_server or not (folder / pki.SERVER_CERT).exists():
        pki.make_server_cert(folder, names)
    broker = BrokerAccess(folder)
    password = new_password()
    broker.set_user(hub_username, password, "hub")
    write_secret(hub_password_file, password + "\n")


def provision_station(broker: BrokerAccess, keys_path: Path, center: str, station: str, *,
                      host: str, port: int, ca_path: str, key: bytes | None = None,
                      force: bool = False, now: datetime | None = None) -> StationAccess:
    name = f"{center}/{station}"
    stations = read_store(keys_path)
    existing = stations.get(name)
    if existing and not existing.get("revoked_at") and not force:
        raise ProvisionError("security.station_exists", name=name)
    key = key or secrets.token_bytes(32)
    access = StationAccess(center, station, station_username(center, station), new_password(),
                           key.hex(), host, port, ca_path)
    # The key first: a station that can log in is believed from its first record.
    now = now or datetime.now(timezone.utc)
    stations[name] = {"key": access.key_hex, "created_at": now.isoformat(timespec="milliseconds"),
                      "revoked_at": None}
    write_store(keys_path, stations)
    broker.set_user(access.username, access.password, "station")
    return access


def revoke_station(broker: BrokerAccess, keys_path: Path, center: str, station: str, *,
                   now: datetime | None = None) -> datetime:
    """The station's login removed and its key revoked from `now` on."""
    name = f"{center}/{station}"
    stations = read_store(keys_path)
    entry = stations.get(name)
    found_user = broker.remove_user(station_username(center, station))
    if entry is None and not found_user:
        raise ProvisionError("security.unknown_station", name=name)
    now = now or datetime.now(timezone.utc)
    if entry is not None and not entry.get("revoked_at"):
        entry["revoked_at"] = now.isoformat(timespec="milliseconds")
        write_store(keys_path, stations)
    return datetime.fromisoformat(entry["revoked_at"]) if entry else now
