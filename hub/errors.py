"""Errors the hub reports to a user as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from a user (a file, a flag, a config key).

    The message names the file, row and field where it can, and the CLI
    prints it on one line with a non-zero exit status.
    """
