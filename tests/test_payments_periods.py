"""Fortnight periods in local time (payments.md, "Periods")."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.payments.errors import PaymentsError
from hub.payments.periods import Period, period_of

LIMA = ZoneInfo("America/Lima")  # UTC-5 all year
LA_PAZ = ZoneInfo("America/La_Paz")  # UTC-4 all year
SANTIAGO = ZoneInfo("America/Santiago")  # DST changes at local midnight: a hard case
UTC = timezone.utc


def test_parse_and_print_round_trip():
    period = Period.parse("2026-11-1")
    assert period == Period(2026, 11, 1)
    assert str(period) == "2026-11-1"
    assert str(Period.parse(" 2027-02-2 ")) == "2027-02-2"


@pytest.mark.parametrize(
    "text", ["", "2026-11", "2026-11-3", "2026-11-0", "2026-13-1", "2026-00-2", "2026-1-1", "26-11-1", "2026/11/1", "x"]
)
def test_parse_rejects_bad_text_with_one_line(text):
    with pytest.raises(PaymentsError) as error:
        Period.parse(text)
    message = str(error.value)
    assert repr(text) in message and "YYYY-MM-1" in message
    assert "\n" not in message


def test_bounds_first_half_lima():
    start, end = Period(2026, 11, 1).bounds(LIMA)
    assert start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 00:00 at UTC-5
    assert end == datetime(2026, 11, 16, 5, 0, tzinfo=UTC)
    assert (start.tzinfo, start.hour, end.day, end.hour) == (LIMA, 0, 16, 0)


def test_bounds_second_half_runs_to_first_of_next_month_and_year():
    start, end = Period(2026, 12, 2).bounds(LIMA)
    assert start == datetime(2026, 12, 16, tzinfo=LIMA)
    assert end == datetime(2027, 1, 1, tzinfo=LIMA)


def test_end_of_february_common_and_leap_year():
    # 2027 is not a leap year: 2027-02-2 is Feb 16..28 and ends Mar 1 00:00 local.
    start, end = Period(2027, 2, 2).bounds(LIMA)
    assert (start, end) == (datetime(2027, 2, 16, tzinfo=LIMA), datetime(2027, 3, 1, tzinfo=LIMA))
    assert Period(2027, 2, 2).last_day().day == 28
    assert period_of(datetime(2027, 2, 28, 23, 59, tzinfo=LIMA), LIMA) == Period(2027, 2, 2)
    assert period_of(datetime(2027, 3, 1, 0, 0, tzinfo=LIMA), LIMA) == Period(2027, 3, 1)
    # 2028 is a leap year: Feb 29 23:59 is still 2028-02-2 (it is Mar 1 03:59 UTC).
    assert Period(2028, 2, 2).bounds(LIMA)[1] == datetime(2028, 3, 1, tzinfo=LIMA)
    assert Period(2028, 2, 2).last_day().day == 29
    feb_29_late = datetime(2028, 3, 1, 4, 59, tzinfo=UTC)  # = Feb 29 23:59 in Lima
    assert period_of(feb_29_late, LIMA) == Period(2028, 2, 2)
    assert Period(2028, 2, 2).contains(feb_29_late, LIMA)
    assert not Period(2028, 3, 1).contains(feb_29_late, LIMA)


@pytest.mark.parametrize("tz, offset_h", [(LIMA, -5), (LA_PAZ, -4)])
def test_23_59_on_the_15th_is_first_half_even_though_utc_is_the_16th(tz, offset_h):
    late_15th = datetime(2026, 11, 15, 23, 59, tzinfo=timezone(timedelta(hours=offset_h)))
    assert late_15th.astimezone(UTC).day == 16
    assert period_of(late_15th, tz) == Period(2026, 11, 1)
    assert Period(2026, 11, 1).contains(late_15th, tz)

    midnight_16th = datetime(2026, 11, 16, 0, 0, tzinfo=timezone(timedelta(hours=offset_h)))
    assert period_of(midnight_16th, tz) == Period(2026, 11, 2)
    assert not Period(2026, 11, 1).contains(midnight_16th, tz)
    assert Period(2026, 11, 2).contains(midnight_16th, tz)


def test_same_instant_differs_between_lima_and_la_paz():
    # 04:30 UTC on the 16th is 23:30 on the 15th in Lima but 00:30 on the 16th in La Paz.
    instant = datetime(2026, 11, 16, 4, 30, tzinfo=UTC)
    assert period_of(instant, LIMA) == Period(2026, 11, 1)
    assert period_of(instant, LA_PAZ) == Period(2026, 11, 2)


def test_next_and_previous_cross_months_and_years():
    assert Period(2026, 11, 1).next() == Period(2026, 11, 2)
    assert Period(2026, 11, 2).next() == Period(2026, 12, 1)
    assert Period(2026, 12, 2).next() == Period(2027, 1, 1)
    assert Period(2027, 1, 1).previous() == Period(2026, 12, 2)
    assert Period(2027, 3, 1).previous() == Period(2027, 2, 2)


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        period_of(datetime(2026, 11, 15, 23, 59), LIMA)


periods = st.builds(Period, st.integers(2000, 2100), st.integers(1, 12), st.integers(1, 2))
instants = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC))


@given(periods)
def test_next_previous_are_inverse_and_bounds_touch(period):
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.bounds(LIMA)[1] == period.next().bounds(LIMA)[0]
    assert Period.parse(str(period)) == period


@given(instants, st.sampled_from([LIMA, LA_PAZ, SANTIAGO]))
def test_period_of_agrees_with_bounds(instant, tz):
    # The engine filters with bounds (start <= ts < end); statements use
    # period_of: both must put every instant in the same period, also where
    # daylight saving time shifts the clock at local midnight (Santiago).
    period = period_of(instant, tz)
    start, end = period.bounds(tz)
    assert start <= instant < end
    assert period.contains(instant, tz)
    assert not period.next().contains(instant, tz)


@pytest.mark.parametrize(
    "zone, transition_utc",
    [
        ("America/Asuncion", datetime(2023, 10, 1, 4, 0, tzinfo=UTC)),  # 00:00 Oct 1 skipped (-> 01:00)
        ("America/Asuncion", datetime(1998, 3, 1, 3, 0, tzinfo=UTC)),  # 23:00-24:00 Feb 28 repeated
        ("America/Havana", datetime(2026, 11, 1, 5, 0, tzinfo=UTC)),  # 00:00-01:00 Nov 1 repeated
    ],
)
def test_daylight_saving_at_a_period_boundary_agrees_with_bounds(zone, transition_utc):
    # Neither Peru nor Bolivia shifts clocks, but the pricing file may name
    # any zone: minute by minute around a shift at local midnight, the
    # period of the local date and the bounds used by the engine agree.
    tz = ZoneInfo(zone)
    for minutes in range(-150, 151, 10):
        instant = transition_utc + timedelta(minutes=minutes)
        period = period_of(instant, tz)
        start, end = period.bounds(tz)
        assert start <= instant < end, (instant, period)
