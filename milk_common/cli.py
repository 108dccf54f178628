"""The shell both command-line programs share: argparse that errors on one
line, and a main that turns a user's mistake into one line and status 2."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from milk_common.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_commands(prog: str, parser: argparse.ArgumentParser,
                 commands: dict[str, Callable[[argparse.Namespace], int]],
                 argv: list[str] | None) -> int:
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
