"""The payments core's own error: bad input or a rule it cannot apply.

The core (pricing, records, periods, engine, ledger, statements) raises
`PaymentsError` with a one-line message that names the file, row and field
where it can; only the command line (`hub.cli`) turns it into the user's
`UserError`. It is a ValueError so that callers which already treat bad
values as ValueError keep working.
"""

from __future__ import annotations


class PaymentsError(ValueError):
    """A payment input or output the core refuses, with a one-line reason."""
