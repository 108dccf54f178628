"""The fortnight computation (payments.md, "From gross to net"), checked against hand arithmetic.

Pricing of the contract example unless said otherwise: base 1.03 PEN/L,
reference 11.5 %, +0.01 per complete tenth, -0.015 per started tenth,
contribution 0.02 PEN/L.
"""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.payments.engine import TOTAL, compute_fortnight, installments_of
from hub.payments.errors import PaymentsError
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing
from hub.payments.records import (
    Advance,
    Delivery,
    read_advances_csv,
    read_deliveries_csv,
)

DATA = Path(__file__).parent / "data" / "payments"
PRICING = load_pricing(DATA / "pricing.toml")
LIMA_OFFSET = timezone(timedelta(hours=-5))
NOV_1 = Period(2026, 11, 1)
D = Decimal

_ids = iter(range(1, 10**9))


def delivery(producer, liters, solids_pct, day=2, accepted=True, hour=6, minute=0, reason=None, temp=None):
    """A delivery on ``day`` of November 2026 at ``hour:minute`` Lima time."""
    return Delivery(
        id=f"d{next(_ids)}",
        producer=producer,
        ts=datetime(2026, 11, day, hour, minute, tzinfo=LIMA_OFFSET),
        liters=D(liters),
        solids_pct=None if solids_pct is None else D(solids_pct),
        accepted=accepted,
        milk_temp_c=None if temp is None else D(temp),
        reject_reason=reason,
    )


def test_example_files_hand_computed():
    fortnight = compute_fortnight(
        NOV_1,
        read_deliveries_csv(DATA / "deliveries.csv"),
        PRICING,
        read_advances_csv(DATA / "advances.csv"),
    )
    # d005 (Nov 16 00:00 Lima) and d007 (Oct 31) are outside 2026-11-1.
    assert fortnight.outside_period == 2
    p001, p002, p003, p004 = fortnight.rows
    assert [row.producer for row in fortnight.rows] == ["p001", "p002", "p003", "p004"]

    # p001:
    #   d001 25.40 L, 11.62 % -> floor(1.2) = 1 tenth -> 1.04/L -> 26.4160
    #   d002 30.00 L, 11.49 % -> ceil(0.1) = 1 tenth  -> 1.015/L -> 30.45000
    #   d003 10.5 L, 11.445 % -> 11.45 -> ceil(0.5) = 1 -> 1.015/L -> 10.6575
    #        (Nov 15 23:59 Lima = Nov 16 04:59 UTC: still in -1)
    #   gross = 26.416 + 30.45 + 10.6575 = 67.5235 -> 67.52
    #   litres = 65.90; fees = 65.90 * 0.02 = 1.318 -> 1.32
    #   avg TS = (25.40*11.62 + 30*11.49 + 10.5*11.45) / 65.90
    #          = (295.148 + 344.70 + 120.225) / 65.90 = 760.073 / 65.90 = 11.5337... -> 11.53
    #   due: feed 10.01 in 2 (first 2026-10-2) -> installment 2 = 5.01 now;
    #        veterinary 20.00 in 1 -> 20.00; total 25.01 <= 67.52 - 1.32 = 66.20
    #   net = 67.52 - 1.32 - 25.01 = 41.19
    assert [line.value for line in p001.lines] == [D("26.4160"), D("30.45000"), D("10.6575")]
    assert [line.price_per_liter for line in p001.lines] == [D("1.04"), D("1.015"), D("1.015")]
    assert p001.lines[2].solids_pct == D("11.45")
    assert (p001.deliveries, p001.rejected, p001.liters, p001.avg_solids_pct) == (3, 0, D("65.90"), D("11.53"))
    assert (p001.gross, p001.fees, p001.deductions, p001.carried_over, p001.net) == (
        D("67.52"), D("1.32"), D("25.01"), D("0.00"), D("41.19")
    )
    assert [(c.kind, c.installment, c.amount) for c in p001.charges] == [("feed", 2, D("5.01")), ("veterinary", 1, D("20.00"))]

    # p002: d004 rejected (acidez), d005 outside. Nothing accepted: litres 0,
    # no average, gross 0; the 15.00 feed advance carries over whole.
    assert (p002.deliveries, p002.rejected, p002.liters, p002.avg_solids_pct) == (1, 1, D("0.00"), None)
    assert (p002.gross, p002.fees, p002.deductions, p002.carried_over, p002.net) == (0, 0, 0, D("15.00"), 0)
    assert p002.lines[0].reject_reason == "acidez" and p002.lines[0].value == 0

    # p003: d006 40.25 L, 12.08 % -> floor(5.8) = 5 -> 1.08/L -> 43.4700 -> 43.47
    #   fees 40.25 * 0.02 = 0.805 -> 0.81 (half-up; half-even would give 0.80)
    #   the 8.00 advance starts in 2026-11-2: nothing due. net = 43.47 - 0.81 = 42.66
    assert (p003.liters, p003.avg_solids_pct, p003.gross, p003.fees, p003.deductions, p003.net) == (
        D("40.25"), D("12.08"), D("43.47"), D("0.81"), 0, D("42.66")
    )

    # p004: no deliveries, an advance of 7.50 due: a row of zeros and 7.50 carried over.
    assert (p004.deliveries, p004.liters, p004.avg_solids_pct, p004.gross, p004.carried_over, p004.net) == (
        0, 0, None, 0, D("7.50"), 0
    )

    # TOTAL: counts and money are sums of the rows; litres 65.90 + 40.25 = 106.15;
    # avg = (760.073 + 40.25*12.08) / 106.15 = (760.073 + 486.22) / 106.15
    #     = 1246.293 / 106.15 = 11.7409... -> 11.74
    total = fortnight.total
    assert total.producer == TOTAL
    assert (total.deliveries, total.rejected, total.liters, total.avg_solids_pct) == (5, 1, D("106.15"), D("11.74"))
    assert (total.gross, total.fees, total.deductions, total.carried_over, total.net) == (
        D("110.99"), D("2.13"), D("25.01"), D("22.50"), D("83.85")
    )


def test_boundary_delivery_at_23_59_and_00_00_lima():
    late_15th = delivery("p1", "10", "11.50", day=15, hour=23, minute=59)
    midnight_16th = delivery("p1", "10", "11.50", day=16, hour=0)
    first = compute_fortnight(NOV_1, [late_15th, midnight_16th], PRICING)
    second = compute_fortnight(NOV_1.next(), [late_15th, midnight_16th], PRICING)
    assert [line.id for line in first.rows[0].lines] == [late_15th.id]
    assert [line.id for line in second.rows[0].lines] == [midnight_16th.id]
    assert first.outside_period == second.outside_period == 1
    # Lines carry local time for the statement.
    assert first.rows[0].lines[0].ts.strftime("%d %H:%M") == "15 23:59"


def test_la_paz_uses_its_own_midnight(tmp_path):
    text = (DATA / "pricing.toml").read_text().replace("America/Lima", "America/La_Paz")
    (tmp_path / "pricing.toml").write_text(text)
    la_paz = load_pricing(tmp_path / "pricing.toml")
    # 23:30 on the 15th in Lima is 00:30 on the 16th in La Paz (UTC-4).
    lima_late = delivery("p1", "10", "11.50", day=15, hour=23, minute=30)
    assert compute_fortnight(NOV_1, [lima_late], PRICING).rows[0].deliveries == 1
    assert compute_fortnight(NOV_1, [lima_late], la_paz).rows == ()
    assert compute_fortnight(NOV_1.next(), [lima_late], la_paz).rows[0].deliveries == 1


def test_odd_cent_advance_in_two_installments_across_periods():
    # 10.01 / 2 = 5.005 -> first installment rounded down to 5.00, second 10.01 - 5.00 = 5.01.
    advance = Advance("p1", "feed", D("10.01"), 2, NOV_1)
    assert [c.amount for c in installments_of(advance)] == [D("5.00"), D("5.01")]
    milk = [delivery("p1", "100", "11.50", day=3), delivery("p1", "100", "11.50", day=20)]
    # Each half: 100 L * 1.03 = 103.00 gross, fees 100 * 0.02 = 2.00.
    first = compute_fortnight(NOV_1, milk, PRICING, [advance]).rows[0]
    second = compute_fortnight(NOV_1.next(), milk, PRICING, [advance]).rows[0]
    third = compute_fortnight(NOV_1.next().next(), milk, PRICING, [advance])
    assert (first.deductions, first.net) == (D("5.00"), D("96.00"))  # 103.00 - 2.00 - 5.00
    assert (second.deductions, second.net) == (D("5.01"), D("95.99"))  # 103.00 - 2.00 - 5.01
    assert third.rows == ()  # nothing delivered, nothing due


def test_two_installments_across_a_year_end():
    advance = Advance("p1", "veterinary", D("0.01"), 2, Period(2026, 12, 2))
    # 0.01 / 2 = 0.005 -> 0.00 now, 0.01 in 2027-01-1.
    december = compute_fortnight(Period(2026, 12, 2), [], PRICING, [advance])
    january = compute_fortnight(Period(2027, 1, 1), [], PRICING, [advance])
    assert [c.amount for c in december.rows[0].charges] == [D("0.00")]
    assert january.rows[0].carried_over == D("0.01")


def test_deductions_larger_than_gross_carry_over():
    # 20 L * 1.03 = 20.60 gross; fees 20 * 0.02 = 0.40; room for deductions 20.20.
    # Due 50.00 -> deduct 20.20, net 0.00, carried over 50.00 - 20.20 = 29.80.
    milk = [delivery("p1", "20", "11.50")]
    row = compute_fortnight(NOV_1, milk, PRICING, [Advance("p1", "feed", D("50.00"), 1, NOV_1)]).rows[0]
    assert (row.gross, row.fees, row.deductions, row.carried_over, row.net) == (
        D("20.60"), D("0.40"), D("20.20"), D("29.80"), D("0.00")
    )
    assert row.due == D("50.00")


def test_carried_in_balance_falls_due_again():
    # 10 L * 1.03 = 10.30; fees 0.20; due = 29.80 carried in + 1.00 advance = 30.80;
    # deduct 10.10, carry over 20.70.
    row = compute_fortnight(
        NOV_1,
        [delivery("p1", "10", "11.50")],
        PRICING,
        [Advance("p1", "other", D("1.00"), 1, NOV_1)],
        carried_in={"p1": D("29.80"), "p2": D("3.00"), "p3": D("0")},
    )
    p1, p2 = row.rows  # p3 owes nothing: no row
    assert (p1.carried_in, p1.deductions, p1.carried_over, p1.net) == (D("29.80"), D("10.10"), D("20.70"), 0)
    assert (p2.producer, p2.deliveries, p2.carried_over) == ("p2", 0, D("3.00"))
    assert row.total.carried_in == D("32.80")


def test_all_rejected_producer():
    rejected = [
        delivery("p1", "15", None, accepted=False, reason="antibiótico"),
        delivery("p1", "12", "10.10", accepted=False, reason="agua"),
    ]
    row = compute_fortnight(NOV_1, rejected, PRICING).rows[0]
    assert (row.deliveries, row.rejected, row.liters, row.avg_solids_pct) == (2, 2, D("0.00"), None)
    assert (row.gross, row.fees, row.net) == (D("0.00"), D("0.00"), D("0.00"))
    assert [line.solids_pct for line in row.lines] == [None, D("10.10")]


def test_fees_are_capped_at_gross():
    # 4.60 % -> 69 tenths * 0.015 = 1.035 > 1.03: price 0, gross 0.00.
    # Fees would be 50 * 0.02 = 1.00 but cannot exceed the gross of 0.00.
    row = compute_fortnight(NOV_1, [delivery("p1", "50", "4.60")], PRICING).rows[0]
    assert (row.gross, row.fees, row.net) == (D("0.00"), D("0.00"), D("0.00"))
    assert row.avg_solids_pct == D("4.60")


def test_gross_is_rounded_once_not_per_delivery():
    # 3 deliveries of 1.5 L at 11.50 % -> 1.545 each; per delivery rounded would be
    # 3 * 1.55 = 4.65, but the exact sum 4.635 rounds once to 4.64.
    row = compute_fortnight(NOV_1, [delivery("p1", "1.5", "11.50", day=d) for d in (2, 3, 4)], PRICING).rows[0]
    assert row.gross == D("4.64")


def test_rows_sorted_and_total_name_reserved():
    fortnight = compute_fortnight(NOV_1, [delivery(p, "1", "11.5") for p in ("b", "a", "c")], PRICING)
    assert [row.producer for row in fortnight.rows] == ["a", "b", "c"]
    assert fortnight.row("b").producer == "b"
    with pytest.raises(PaymentsError, match="no statement"):
        fortnight.row("zz")
    with pytest.raises(PaymentsError, match="reserved"):
        compute_fortnight(NOV_1, [delivery(TOTAL, "1", "11.5")], PRICING)


def test_total_average_weights_every_delivery_not_the_rounded_row_averages():
    # p1: 1 L at 11.00 (row avg 11.00); p2: 99 L at 12.00 (row avg 12.00).
    # Total avg = (11 + 1188) / 100 = 11.99 (a mean of row averages would be 11.50).
    fortnight = compute_fortnight(NOV_1, [delivery("p1", "1", "11.00"), delivery("p2", "99", "12.00")], PRICING)
    assert fortnight.total.avg_solids_pct == D("11.99")


money = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@st.composite
def fortnight_inputs(draw):
    producers = ["p1", "p2", "p3"]
    deliveries = [
        delivery(
            draw(st.sampled_from(producers)),
            str(draw(st.decimals(min_value=0, max_value=200, places=2))),
            str(draw(st.decimals(min_value=5, max_value=15, places=3))),
            day=draw(st.integers(1, 30)),
            accepted=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    advances = [
        Advance(draw(st.sampled_from(producers + ["p4"])), "feed", draw(money), draw(st.sampled_from([1, 2])),
                draw(st.sampled_from([NOV_1.previous(), NOV_1])))
        for _ in range(draw(st.integers(0, 4)))
    ]
    return deliveries, advances


@settings(max_examples=150, deadline=None)
@given(fortnight_inputs())
def test_statement_foots(inputs):
    deliveries, advances = inputs
    fortnight = compute_fortnight(NOV_1, deliveries, PRICING, advances)
    total = fortnight.total
    rows = fortnight.rows
    for row in (*rows, total):
        assert row.net == row.gross - row.fees - row.deductions
        assert row.net >= 0 and row.fees <= row.gross
        assert row.deductions + row.carried_over == row.due
    for field in ("deliveries", "rejected", "gross", "fees", "deductions", "carried_over", "net"):
        assert getattr(total, field) == sum(getattr(row, field) for row in rows)
    assert total.deliveries + fortnight.outside_period == len(deliveries)
    # The total's litres are the exact sum rounded, within a cent per row of the printed rows.
    assert abs(total.liters - sum(row.liters for row in rows)) <= D("0.005") * len(rows)
    # Every cent of every advance falls due exactly once over its two periods.
    both = [compute_fortnight(p, [], PRICING, advances) for p in (NOV_1.previous(), NOV_1, NOV_1.next())]
    assert sum(f.total.due for f in both) == sum(a.amount for a in advances)
