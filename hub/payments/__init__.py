"""Fortnightly (quincenal) producer payments: a pure, exact engine (payments.md).

Typical use::

    pricing = load_pricing("pricing.toml")
    period = Period.parse("2026-11-1")
    fortnight = compute_fortnight(
        period, read_deliveries_csv("deliveries.csv"), pricing, read_advances_csv("advances.csv")
    )
    write_outputs("out", fortnight)

All money is `decimal.Decimal`, rounded half-up only where the rules say.
Bad input raises `PaymentsError` (a ValueError) with a one-line message;
`hub.payments.report.write_statements` adds the printable PDFs.
"""

from hub.payments.engine import (
    TOTAL,
    Charge,
    DeliveryLine,
    Fortnight,
    ProducerRow,
    compute_fortnight,
    due_period,
    installments_of,
)
from hub.payments.errors import PaymentsError
from hub.payments.periods import Period, period_of
from hub.payments.pricing import (
    DeliveryPrice,
    Pricing,
    SolidsBonus,
    load_pricing,
    price_delivery,
    pricing_from_dict,
)
from hub.payments.records import (
    Advance,
    Delivery,
    read_advances_csv,
    read_deliveries_csv,
    write_deliveries_csv,
)
from hub.payments.statements import (
    render_producer_statement,
    render_table,
    write_outputs,
    write_statements_csv,
)

__all__ = [
    "TOTAL",
    "Advance",
    "Charge",
    "Delivery",
    "DeliveryLine",
    "DeliveryPrice",
    "Fortnight",
    "PaymentsError",
    "Period",
    "Pricing",
    "ProducerRow",
    "SolidsBonus",
    "compute_fortnight",
    "due_period",
    "installments_of",
    "load_pricing",
    "period_of",
    "price_delivery",
    "pricing_from_dict",
    "read_advances_csv",
    "read_deliveries_csv",
    "render_producer_statement",
    "render_table",
    "write_deliveries_csv",
    "write_outputs",
    "write_statements_csv",
]
