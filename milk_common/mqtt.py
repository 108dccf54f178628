"""How station and hub reach the broker: TLS and a username/password.

Both houses read the same `[mqtt]` access keys (docs/security.md) and make
their paho clients through `configure_client`, so a broker that refuses
anonymous and unencrypted clients is met the same way everywhere:

    tls_ca         the CA certificate that signed the broker's certificate;
                   setting it turns TLS on (the broker's name is checked)
    tls_cert       a client certificate (optional, when the broker asks one)
    tls_key        its private key
    username       `{center}.{station}` for a station, the hub's own user
    password       the password itself, or
    password_file  a file holding it (mode 600), so the config can be shared
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import model_validator

from milk_common.config import Section
from milk_common.errors import UserError
from milk_common.i18n import process_language, translate


def _text(message: str, /, **values) -> str:
    """Config errors speak the command's language (the `config` catalog)."""
    return translate("config", message, process_language(), **values)


class MqttAccess(Section):
    """The access keys of an `[mqtt]` section (a base for both houses' schemas)."""

    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.password is not None and self.password_file is not None:
            raise ValueError(_text("mqtt.password_twice"))
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError(_text("mqtt.password_without_user"))
        if self.tls_key and not self.tls_cert:
            raise ValueError(_text("mqtt.key_without_cert"))
        return self


def read_password(access) -> str | None:
    """The password from the config or its file (one line, whitespace trimmed)."""
    if getattr(access, "password", None) is not None:
        return access.password
    path = getattr(access, "password_file", None)
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UserError(_text("mqtt.password_unreadable", path=path, detail=exc.strerror)) from None


def _readable(key: str, path: str) -> str:
    if not Path(path).is_file():
        raise UserError(_text("mqtt.file_missing", key=key, path=path))
    return path


def check_access(access) -> None:
    """At start, before any thread: the files the `[mqtt]` section names exist
    and the password file is readable (a UserError naming the key otherwise)."""
    read_password(access)
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = getattr(access, key, None)
        if path:
            _readable(key, path)


def configure_client(client, access) -> None:
    """Credentials and TLS on a paho client, from an `[mqtt]` section (or None)."""
    if access is None:
        return
    username = getattr(access, "username", None)
    if username:
        client.username_pw_set(username, read_password(access))
    ca = getattr(access, "tls_ca", None)
    if ca:
        cert, key = getattr(access, "tls_cert", None), getattr(access, "tls_key", None)
        client.tls_set(ca_certs=_readable("tls_ca", ca),
                       certfile=_readable("tls_cert", cert) if cert else None,
                       keyfile=_readable("tls_key", key) if key else None,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)


def make_client(access, **kwargs):
    """A paho-mqtt 2.x client (callback API 2) with `access` applied."""
    import paho.mqtt.client as mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    configure_client(client, access)
    return client


def stop_loop(client) -> None:
    """`client.loop_stop()` without paho 2.x's race (eclipse-paho/paho.mqtt.python#872):
    its network thread clears `client._thread` as it ends, which can fall
    between loop_stop's check and its join, and loop_stop then raises
    AttributeError. The thread has ended by then, which is all loop_stop
    waits for."""
    try:
        client.loop_stop()
    except AttributeError:
        pass
