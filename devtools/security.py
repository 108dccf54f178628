"""The secure broker on loopback, for the tests and the demo.

`Servers.start()` runs the same steps as `milk-hub provision` on the run
folder (hub/security/provision.py): a CA and a broker certificate for
127.0.0.1/localhost, the hub's broker user, an ACL; the broker refuses
anonymous and unencrypted clients exactly as in production. Tests then
provision each station they publish as (`servers.provision_station`), and
every hub a test writes a config for shares one key store here, so a
station provisioned once is believed by every hub of the session.

After each change the broker gets SIGHUP and we wait until the change
shows (a new login works, a revoked one is refused), so a test never races
the broker's reload.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hub.security import pki
from hub.security.broker import BrokerAccess
from hub.security.provision import StationAccess, provision_ca, provision_station, revoke_station
from milk_common.contract.topics import TOPIC_ROOT
from milk_common.mqtt import MqttAccess, make_client
from milk_common.mqtt import stop_loop

HUB_USER = "milk-hub"
PROBE = ("devtools", "probe")


def try_login(port: int, access, timeout_s: float = 3.0) -> bool | None:
    """True when the broker accepts this login, False when it refuses it,
    None when no answer came (not up yet)."""
    answer: list[bool] = []
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        answer.append(not reason_code.is_failure)
        done.set()

    def on_disconnect(client, userdata, flags, reason_code, properties):
        if not answer:
            answer.append(False)
        done.set()

    client = make_client(access, client_id=f"devtools-login-{time.monotonic_ns()}")
    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    try:
        client.connect("127.0.0.1", port, 30)
    except OSError:
        return None
    client.loop_start()
    done.wait(timeout_s)
    client.disconnect()
    stop_loop(client)
    return answer[0] if answer else None


class LoopbackSecurity:
    def __init__(self, mosquitto) -> None:
        self.mosquitto = mosquitto
        self.dir: Path = mosquitto.security_dir
        self.broker = BrokerAccess(self.dir)
        self.keys_path = self.dir / "station-keys.json"
        self.hub_password_file = self.dir / "hub.password"
        self._stations: dict[tuple[str, str], StationAccess] = {}
        self._logins: dict[str, str] = {}
        self._lock = threading.Lock()
        self.probe: StationAccess | None = None

    @property
    def ca_file(self) -> Path:
        return self.dir / pki.CA_CERT

    @property
    def hub_access(self) -> MqttAccess:
        return MqttAccess(username=HUB_USER, password_file=str(self.hub_password_file),
                          tls_ca=str(self.ca_file))

    def hub_mqtt_lines(self) -> str:
        """The `[mqtt]` access keys of a hub config (no header, no host/port)."""
        return (f'tls_ca = "{self.ca_file}"\nusername = "{HUB_USER}"\n'
                f'password_file = "{self.hub_password_file}"\n')

    def prepare(self) -> None:
        """CA, broker certificate, hub user, and one station (the probe: a hub
        with an empty key store refuses to start, and the login check needs one)."""
        if not (self.dir / pki.SERVER_CERT).exists() or not self.hub_password_file.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            provision_ca(self.dir, ["localhost", "127.0.0.1"], hub_username=HUB_USER,
                         hub_password_file=self.hub_password_file)
        self.broker.ensure_files()
        self.probe = self._provision(*PROBE, key=None, force=True)

    def _provision(self, center: str, station: str, key: bytes | None, force: bool) -> StationAccess:
        return provision_station(self.broker, self.keys_path, center, station, host="127.0.0.1",
                                 port=self.mosquitto.port, ca_path=str(self.ca_file), key=key,
                                 force=force)

    def wait_for_login(self, access, accepted: bool = True, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if try_login(self.mosquitto.port, access) is accepted:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the broker did not {'accept' if accepted else 'refuse'} "
                           f"{access.username} within {timeout_s}s (see {self.mosquitto.run_dir}/mosquitto.log)")

    def provision_station(self, center: str, station: str, key: bytes | None = None) -> StationAccess:
        """Provisioned once per session; again (new password) with another key."""
        with self._lock:
            known = self._stations.get((center, station))
            if known is not None and (key is None or known.key == key):
                return known
            access = self._provision(center, station, key, force=True)
            self.mosquitto.reload()
            self.wait_for_login(access)
            self._stations[(center, station)] = access
            return access

    def revoke_station(self, center: str, station: str):
        with self._lock:
            at = revoke_station(self.broker, self.keys_path, center, station)
            self.mosquitto.reload()
            access = self._stations.pop((center, station), None)
            if access is not None:
                self.wait_for_login(access, accepted=False)
            return at

    def client_credentials(self, user: str) -> dict:
        """`tls_ca`, `username`, `password` for `user`: "hub", or a station's
        `center.station` (a broker login only; its key is the caller's business)."""
        if user in ("hub", HUB_USER):
            return {"tls_ca": str(self.ca_file), "username": HUB_USER,
                    "password": self.hub_password_file.read_text().strip()}
        with self._lock:
            password = self._logins.get(user)
            if password is None:
                from hub.security.broker import new_password
                password = new_password()
                self.broker.set_user(user, password, "station")
                self.mosquitto.reload()
                self.wait_for_login(MqttAccess(username=user, password=password, tls_ca=str(self.ca_file)))
                self._logins[user] = password
        return {"tls_ca": str(self.ca_file), "username": user, "password": password}

    def client(self, access=None, **kwargs):
        return make_client(access or self.hub_access, **kwargs)

    def how_to_connect(self) -> str:
        """What `make servers-start` prints: address, CA file, a credential."""
        host, port = "127.0.0.1", self.mosquitto.port
        password = self.hub_password_file.read_text().strip()
        return "\n".join([
            f"MQTT over TLS: {host}:{port} (no anonymous clients)",
            f"  CA file:  {self.ca_file}",
            f"  hub user: {HUB_USER}  password: {password}  (file {self.hub_password_file})",
            f"  e.g.: mosquitto_sub -h {host} -p {port} --cafile {self.ca_file} "
            f"-u {HUB_USER} -P '{password}' -t '{TOPIC_ROOT}/#' -v",
            f"  a station's credentials and key: milk-hub provision station CENTER/STATION "
            f"(broker files in {self.dir})",
        ])
