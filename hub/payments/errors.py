"""The payments core's own error: bad input or a rule it cannot apply.

The core (pricing, records, periods, engine, ledger, statements) raises
`PaymentsError` with a one-line message that names the file, row and field
where it can; only the command line (`hub.cli`) turns it into the user's
`UserError`. It is a ValueError so that callers which already treat bad
values as ValueError keep working.

A message is either plain text or a `Text`: a key of the ``payments``
catalog (``err_<key>``) and its values, worded only when someone reads it,
in their language (`PaymentsError.words`; the command line passes the
user's, Spanish by default). ``str()`` of the error is the English wording,
for logs and for code that matches messages.
"""

from __future__ import annotations

from milk_common.i18n import translate


class Text:
    """A message to word later: ``err_<key>`` of the payments catalog with its values,
    some of which may be `Text` themselves (a reason inside a "file: row, field" frame)."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, /, **values: object) -> None:
        self.key, self.values = key, values

    def words(self, lang: str) -> str:
        values = {name: value.words(lang) if isinstance(value, Text) else value
                  for name, value in self.values.items()}
        return translate("payments", f"err_{self.key}", lang, **values)

    def __str__(self) -> str:
        return self.words("en")

    def __repr__(self) -> str:
        return f"Text({self.key!r}, {self.values!r})"


def reason_of(error: Exception) -> str | Text:
    """The reason an exception gives: its `Text` when it was raised with one (``ValueError(Text(...))``
    from a pricing scheme), else its text."""
    if isinstance(error, PaymentsError):
        return error.message
    if error.args and isinstance(error.args[0], Text):
        return error.args[0]
    return str(error)


def words(message: str | Text, lang: str) -> str:
    """A message in ``lang`` (plain text as it is)."""
    return message.words(lang) if isinstance(message, Text) else message


class PaymentsError(ValueError):
    """A payment input or output the core refuses, with a one-line reason."""

    def __init__(self, message: str | Text) -> None:
        self.message = message
        super().__init__(str(message))

    def words(self, lang: str) -> str:
        """The reason in ``lang`` (``es``/``en``)."""
        return words(self.message, lang)
