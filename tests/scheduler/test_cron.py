"""Cron expressions mean what crontab(5) says, not what APScheduler's ``from_crontab`` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rat_jupyter.core.errors import Invalid
from rat_jupyter.scheduler.service import next_fire, parse_cron

WED = datetime(2026, 12, 2, 0, 46, tzinfo=UTC)  # a Wednesday


def fires(expr: str, count: int = 5, tz: str = "UTC", after: datetime = WED) -> list[datetime]:
    out, t = [], after
    for _ in range(count):
        t = next_fire(expr, tz, t).astimezone(UTC)
        out.append(t)
    return out


def brute(expr_match, count: int, after: datetime = WED) -> list[datetime]:
    """Minute-by-minute oracle: the first ``count`` minutes after ``after`` that ``expr_match`` accepts."""
    out, t = [], after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while len(out) < count:
        if expr_match(t):
            out.append(t)
        t += timedelta(minutes=1)
    return out


def test_weekdays_are_monday_to_friday() -> None:
    got = fires("0 9 * * 1-5", 7)
    assert [d.strftime("%a") for d in got] == ["Wed", "Thu", "Fri", "Mon", "Tue", "Wed", "Thu"]
    assert all(d.hour == 9 and d.minute == 0 for d in got)


@pytest.mark.parametrize("expr", ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "@weekly"])
def test_sunday_is_0_and_7(expr: str) -> None:
    assert [d.strftime("%a %d") for d in fires(expr, 2)] == ["Sun 06", "Sun 13"]


def test_day_of_month_and_day_of_week_are_ored() -> None:
    # "the 13th, or any Friday"
    expected = brute(lambda t: t.hour == 0 and t.minute == 0 and (t.day == 13 or t.weekday() == 4), 6)
    assert fires("0 0 13 * 5", 6) == expected


def test_a_star_day_field_ands_the_other() -> None:
    # '*/2' starts with '*': cron ANDs it with the weekday (odd days that are Mondays)
    expected = brute(lambda t: t.hour == 0 and t.minute == 0 and t.day % 2 == 1 and t.weekday() == 0, 3)
    assert fires("0 0 */2 * mon", 3) == expected


@pytest.mark.parametrize(("expr", "match"), [
    ("*/15 * * * *", lambda t: t.minute % 15 == 0),
    ("5,10-20/5,45 */4 * * *", lambda t: t.minute in (5, 10, 15, 20, 45) and t.hour % 4 == 0),
    ("0 12 * feb-apr sat-sun", lambda t: t.minute == 0 and t.hour == 12 and t.month in (2, 3, 4) and t.weekday() >= 5),
    ("30 2 1 jan,jul *", lambda t: (t.minute, t.hour, t.day) == (30, 2, 1) and t.month in (1, 7)),
    ("0 0 * * 5-7", lambda t: t.minute == 0 and t.hour == 0 and t.weekday() in (4, 5, 6)),
    ("@hourly", lambda t: t.minute == 0),
])
def test_fields_match_a_minute_by_minute_oracle(expr: str, match) -> None:
    assert fires(expr, 5) == brute(match, 5)


def test_time_zone_and_dst() -> None:
    # 02:30 does not exist in Paris on 2026-03-29; 09:00 local stays 09:00 local across the change
    got = fires("0 9 * * *", 3, "Europe/Paris", datetime(2026, 3, 28, 12, tzinfo=UTC))
    local = [d.astimezone(ZoneInfo("Europe/Paris")) for d in got]
    assert [(d.day, d.hour) for d in local] == [(29, 9), (30, 9), (31, 9)]
    assert [d.hour for d in got] == [7, 7, 7]


@pytest.mark.parametrize(("expr", "words"), [
    ("0 0 L * *", "not supported"), ("0 0 * * mon#2", "not supported"), ("15 10 last * *", "day of month"),
    ("0 0 * * 8", "out of range"), ("60 * * * *", "out of range"), ("5-3 * * * *", "backwards"),
    ("*/0 * * * *", "step"), ("* * * *", "5 fields"), ("0 0 * * funday", "day of week"), ("1,,2 * * * *", "syntax"),
])
def test_refusals_name_the_problem(expr: str, words: str) -> None:
    with pytest.raises(Invalid) as err:
        parse_cron(expr, "UTC")
    assert words in err.value.message
    assert expr in err.value.message
