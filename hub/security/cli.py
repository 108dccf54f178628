"""`milk-hub provision ca | station CENTER/STATION | revoke CENTER/STATION`."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from milk_common.errors import UserError
from milk_common.i18n import process_language, translate

HUB_USER = "milk-hub"


def add_provision_parser(sub) -> None:
    from milk_common.cli import OneLineParser
    prov = sub.add_parser("provision", help="broker TLS, station credentials and keys, revocation")
    prov_sub = prov.add_subparsers(dest="provision_command", required=True, parser_class=OneLineParser)
    ca = prov_sub.add_parser("ca", help="CA, broker certificate and the hub's broker user")
    ca.add_argument("--host", action="append", default=[],
                    help="a name or address stations use for the broker (repeatable)")
    ca.add_argument("--keep-server-cert", action="store_true", help="only the hub user and the ACL")
    st = prov_sub.add_parser("station", help="a station's broker user, HMAC key and config fragment")
    st.add_argument("name", metavar="CENTER/STATION")
    st.add_argument("--out", help="write the station's [mqtt]/[integrity] fragment here (mode 600); "
                    "default: standard output")
    st.add_argument("--force", action="store_true", help="replace existing credentials and key")
    rd = prov_sub.add_parser("reader", help="a read-only broker login (a dashboard, a technician's terminal)")
    rd.add_argument("name", metavar="NAME")
    rv = prov_sub.add_parser("revoke", help="a stolen or retired station: login and key stop working "
                             "(or a reader's login: NAME)")
    rv.add_argument("name", metavar="CENTER/STATION")
    for p in (ca, st, rd, rv):
        p.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"), help="hub.toml")


def _say(key: str, **values) -> None:
    print(translate("hub", key, process_language(), **values), file=sys.stderr)


def _reload(config) -> bool:
    from hub.security.broker import reload_broker
    try:
        reload_broker(config.broker.pid_file, config.broker.reload_command)
        return True
    except (OSError, ValueError) as exc:
        _say("security.reload_failed", error=str(exc))
        return False


def _reader(args, config, broker, folder) -> int:
    import re

    from hub.security import pki
    from hub.security.broker import new_password
    from hub.security.provision import ProvisionError
    if not re.match(r"^[a-z0-9_-]{1,64}$", args.name) or args.name == (config.mqtt.username or HUB_USER):
        raise ProvisionError("security.bad_reader", name=args.name)
    if args.provision_command == "revoke":
        if not broker.remove_user(args.name):
            raise ProvisionError("security.unknown_station", name=args.name)
        _say("security.reader_revoked", name=args.name)
        return 0 if _reload(config) else 1
    password = new_password()
    broker.set_user(args.name, password, "reader")
    print(f'[mqtt]\ntls_ca = "{folder / pki.CA_CERT}"\nusername = "{args.name}"\npassword = "{password}"')
    _say("security.reader_made", name=args.name)
    return 0 if _reload(config) else 1


def cmd_provision(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    from hub.security import pki
    from hub.security.broker import BrokerAccess
    from hub.security.provision import (ProvisionError, parse_station_name, provision_ca,
                                        provision_station, revoke_station, write_secret)
    lang = process_language()
    config = load_hub_config(args.config)
    folder = Path(config.broker.dir)
    broker = BrokerAccess(folder)
    try:
        if args.provision_command == "ca":
            names = list(dict.fromkeys([*args.host, "localhost", "127.0.0.1", socket.gethostname()]))
            password_file = Path(config.mqtt.password_file or folder / "hub.password")
            username = config.mqtt.username or HUB_USER
            provision_ca(folder, names, hub_username=username, hub_password_file=password_file,
                         renew_server=not args.keep_server_cert)
            _say("security.ca_made", dir=str(folder), names=", ".join(pki.certificate_names(folder / pki.SERVER_CERT)),
                 username=username, password_file=str(password_file))
            print(f'[mqtt]\ntls_ca = "{folder / pki.CA_CERT}"\nusername = "{username}"\n'
                  f'password_file = "{password_file}"')
            # At first setup no broker runs with these files yet (docs/security.md
            # restarts it next): nothing to reload is not a failure here.
            if config.broker.reload_command or (config.broker.pid_file and Path(config.broker.pid_file).exists()):
                _reload(config)
            return 0
        if args.provision_command == "reader" or (args.provision_command == "revoke" and "/" not in args.name):
            return _reader(args, config, broker, folder)
        center, station = parse_station_name(args.name)
        if args.provision_command == "station":
            if not (folder / pki.CA_CERT).exists():
                raise ProvisionError("security.no_ca", dir=str(folder))
            access = provision_station(
                broker, config.keys_path, center, station, force=args.force,
                host=config.broker.station_host or config.mqtt.host,
                port=config.broker.station_port or config.mqtt.port,
                ca_path=config.broker.station_ca_path or str((folder / pki.CA_CERT).resolve()))
            if args.out:
                write_secret(Path(args.out), access.toml())
            else:
                sys.stdout.write(access.toml())
            _say("security.station_made", name=args.name, username=access.username,
                 out=args.out or "-")
            return 0 if _reload(config) else 1
        at = revoke_station(broker, config.keys_path, center, station)
        _say("security.revoked", name=args.name, at=at.isoformat(timespec="seconds"))
        return 0 if _reload(config) else 1
    except ProvisionError as exc:
        raise UserError(translate("hub", exc.key, lang, **exc.values)) from None
    except PermissionError as exc:
        raise UserError(f"{exc.filename}: {exc.strerror}") from None
