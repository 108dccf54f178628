"""The shell both command-line programs share: argparse that errors on one
line, and a main that turns a user's mistake into one line and status 2.

Argparse's own texts (usage, "the following arguments are required", ...)
come in the user's language too: argparse looks each one up through
gettext, so while the command line is built and parsed its lookup is pointed
at the ``cli`` catalog (milk_common/locale/*/LC_MESSAGES/cli.po). The
language is the one the command will use: ``--lang`` on the command line,
else ``language`` in the ``--config`` file (or the file named by the
program's config variable), else the locale (English only when it says so).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Iterator

from milk_common.errors import UserError
from milk_common.i18n import catalog, choose_language, set_process_language


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, argparse._("%(prog)s: error: %(message)s\n") % {"prog": self.prog, "message": message})


def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name X`` or ``--name=X`` in ``argv`` (the last one), without parsing."""
    found = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(name + "="):
            found = arg[len(name) + 1:]
    return found


def command_line_language(argv: list[str], config_env: str | None = None) -> str:
    """The language of a command line before it is parsed (see the module's docstring)."""
    flag = _option(argv, "--lang")
    configured = None
    config = _option(argv, "--config") or (os.environ.get(config_env) if config_env else None)
    if not flag and config:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            with open(config, "rb") as file:
                value = tomllib.load(file).get("language")
            configured = value if isinstance(value, str) else None
    return choose_language(flag, configured)


@contextlib.contextmanager
def argparse_language(lang: str) -> Iterator[None]:
    """Argparse's texts in ``lang`` while the block runs (its gettext lookups, then restored)."""
    texts = catalog("cli", lang)
    saved = argparse._, argparse.ngettext
    argparse._ = lambda message: texts.get(message, message)
    argparse.ngettext = lambda one, many, n: texts.get(one if n == 1 else many, one if n == 1 else many)
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def run_commands(prog: str, parser: argparse.ArgumentParser | Callable[[], argparse.ArgumentParser],
                 commands: dict[str, Callable[[argparse.Namespace], int]],
                 argv: list[str] | None, config_env: str | None = None) -> int:
    """Parse ``argv`` (``parser`` may be the function that builds it, so that its help texts
    are in the user's language too) and run the command; a UserError is one line, status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    lang = command_line_language(argv, config_env)
    set_process_language(lang)
    with argparse_language(lang):
        if not isinstance(parser, argparse.ArgumentParser):
            parser = parser()
        args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return commands[args.command](args)
    except UserError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        set_process_language(None)   # a main() called again in one process chooses anew
