"""`milk-hub web` and `milk-hub users`: the dashboard's commands (argparse side).

Kept apart from hub/cli.py so that the web stack (Starlette, uvicorn) is
imported only by the commands that serve it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from milk_common.cli import OneLineParser
from milk_common.i18n import process_language, translate

from hub.errors import UserError


def add_web_parsers(sub) -> None:
    web = sub.add_parser("web", help="the officers' dashboard (docs/dashboard.md)")
    web.add_argument("--config", required=True, help="hub.toml")
    web.add_argument("--port", type=int, help="TCP port (default: [web] port, 8080)")
    web.add_argument("--bind", help="address to listen on (default: [web] bind, 127.0.0.1)")

    usr = sub.add_parser("users", help="the officers who may log in to the dashboard")
    usr_sub = usr.add_subparsers(dest="users_command", required=True, parser_class=OneLineParser)
    uadd = usr_sub.add_parser("add", help="add a user or change a password (read from standard input)")
    uadd.add_argument("name")
    uadd.add_argument("--config", required=True, help="hub.toml")
    ulist = usr_sub.add_parser("list", help="the users who may log in")
    ulist.add_argument("--config", required=True, help="hub.toml")


def _t(key: str, **values) -> str:
    return translate("dashboard", key, process_language(), **values)


def _statements_dir(config_path: str, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else (Path(config_path).resolve().parent / path).resolve()


def cmd_web(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    config = load_hub_config(args.config)
    port = args.port if args.port is not None else config.web.port
    if not 0 < port < 65536:
        raise UserError(f"--port {port}: must be 1..65535")
    bind = args.bind or config.web.bind
    try:
        import uvicorn

        from hub.web.app import Settings, create_app
    except ImportError as exc:
        raise UserError(f"the dashboard needs the hub extra (pip install '.[hub]'): {exc}") from None
    from hub.payments.errors import PaymentsError
    from hub.web.users import Users
    data_dir = Path(config.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        app = create_app(Settings(config, _statements_dir(args.config, config.web.statements_dir)))
    except OSError as exc:
        raise UserError(f"{data_dir}: {exc.strerror}") from None
    except PaymentsError as exc:       # [payments] pricing: a file that cannot be read, or a bad key
        raise UserError(exc.words(process_language())) from None
    _check_port_free(bind, port)
    if not Users(data_dir).names():
        print(_t("web.no_users", config=args.config), file=sys.stderr)
    print(_t("web.listening", host=bind, port=port, influx=config.influx.url,
             database=config.influx.database), file=sys.stderr, flush=True)
    # Open pages hold an event stream: do not wait for them on stop.
    uvicorn.run(app, host=bind, port=port, log_level="warning", access_log=False,
                server_header=False, timeout_graceful_shutdown=2)
    return 0


def _check_port_free(bind: str, port: int) -> None:
    """A one-line reason now rather than uvicorn's log line later."""
    import socket
    try:
        infos = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(_t("web.cannot_listen", address=f"{bind}:{port}", reason=str(exc))) from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UserError(_t("web.cannot_listen", address=f"{bind}:{port}",
                               reason=exc.strerror or str(exc))) from None


def cmd_users(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    from hub.web.users import Users, UsersError
    config = load_hub_config(args.config)
    users = Users(Path(config.data_dir))
    if args.users_command == "list":
        for name in users.names():
            print(name)
        return 0
    if sys.stdin.isatty():
        password = getpass.getpass(f"{args.name}: ")
    else:
        # One line from a pipe or a file: the newline is not part of the password.
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UserError(_t("users.no_password"))
    try:
        new = users.add(args.name, password)
    except UsersError as exc:
        raise UserError(_t(exc.key, **exc.values)) from None
    except OSError as exc:
        raise UserError(f"{users.path}: {exc.strerror}") from None
    print(_t("users.added" if new else "users.replaced", name=args.name), file=sys.stderr)
    return 0
