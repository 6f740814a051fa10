"""The refresh schedule: fit points fixed on the calendar, every ``refit_model_every`` periods."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from features.refresh import RefreshConfig, fit_point, period_number


def test_periods_are_numbered_from_the_first_monday_and_month_of_1970() -> None:
    assert period_number(dt.date(1970, 1, 5), period="week") == 0
    assert period_number(dt.date(1970, 1, 12), period="week") == 1
    assert period_number(dt.date(1970, 1, 1), period="month") == 0
    assert period_number(dt.date(2024, 12, 1), period="month") == 54 * 12 + 11


@pytest.mark.parametrize("every", [1, 2, 4, 13])
def test_the_fit_point_stays_until_the_schedule_reaches_the_next(every: int) -> None:
    weeks = [dt.date(2024, 1, 1) + dt.timedelta(weeks=k) for k in range(40)]
    points = [fit_point(w, period="week", every=every) for w in weeks]
    for week, point in zip(weeks, points, strict=True):
        assert point <= week and (week - point).days < 7 * every
        assert period_number(point, period="week") % every == 0
    # it moves once per `every` weeks, to the week that reached it
    moves = [w for w, a, b in zip(weeks[1:], points[:-1], points[1:], strict=True) if a != b]
    assert all(fit_point(w, period="week", every=every) == w for w in moves)
    assert len(moves) in (len(weeks) // every - 1, len(weeks) // every)
    if every == 1:
        assert points == weeks


def test_monthly_fit_points_are_calendar_months_every_three_the_quarters() -> None:
    assert fit_point(dt.date(2024, 6, 1), period="month", every=3) == dt.date(2024, 4, 1)
    assert fit_point(dt.date(2024, 4, 1), period="month", every=3) == dt.date(2024, 4, 1)
    assert fit_point(dt.date(2024, 2, 1), period="month", every=3) == dt.date(2024, 1, 1)
    assert fit_point(dt.date(2024, 2, 1), period="month", every=12) == dt.date(2024, 1, 1)
    assert fit_point(dt.date(2024, 2, 1), period="month", every=1) == dt.date(2024, 2, 1)


def test_the_schedule_is_at_least_one_period() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        RefreshConfig(refit_model_every=0)
    assert RefreshConfig().refit_model_every == 1
