"""Errors reported to a user as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from a user (a file, a flag, a config key).

    The message names the file, row and field where it can; the CLIs print
    it on one line on standard error and exit with status 2.
    """
