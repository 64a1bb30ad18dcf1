"""Standard cron expressions on top of APScheduler 3.

APScheduler's ``CronTrigger.from_crontab`` is not cron: it numbers the days of the week from Monday (so a
user's ``0 9 * * 1-5`` would fire Tuesday to Saturday), refuses ``7`` for Sunday, ANDs a restricted day of
month with a restricted day of week (cron ORs them), and accepts words of its own (``last``, ``2nd mon``)
that no other cron understands. Users copy expressions from crontab(5), dbt Cloud, Airflow or GitHub
Actions, so this module gives them exactly those semantics and refuses anything else with a message that
names the offending token.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from ..core.errors import Invalid

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# (field name, lowest, highest, names for the values from ``lowest`` on)
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES), ("day of week", 0, 7, DAY_NAMES),
)
_PART = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")


def _value(token: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if token.isdigit():
        number = int(token)
    elif token in names:
        number = names.index(token) + (0 if field == "day of week" else low)
    else:
        unsupported = token in ("l", "w") or (token.endswith(("l", "w")) and token[:-1].isdigit())
        raise Invalid(f"'{token}' is not a valid {field}"
                      + (" ('L', '#', 'W' and '?' are not supported)" if unsupported else ""))
    if not low <= number <= high:
        raise Invalid(f"{field} {number} is out of range ({low}-{high})")
    return number


def expand(field_text: str, index: int) -> set[int]:
    """The values a cron field selects (day of week: 0 = Sunday, 7 folded onto 0)."""
    field, low, high, names = FIELDS[index]
    values: set[int] = set()
    for part in field_text.split(","):
        match = _PART.match(part)
        if not match:
            raise Invalid(f"'{part}' is not valid cron syntax for the {field} field"
                          + (" ('L', '#', 'W' and '?' are not supported)" if re.search(r"[lw#?]", part) else ""))
        star, first, last, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1 or step > high - low:
            raise Invalid(f"step /{step_text} is out of range for the {field} field")
        if star:
            start, stop = low, (6 if field == "day of week" else high)
        else:
            start = _value(first, field, low, high, names)
            stop = _value(last, field, low, high, names) if last else (high if step_text else start)
            if field == "day of week" and last == "sun":
                stop = 7  # 'sat-sun' ends on Sunday, the 7 of crontab(5)
            if stop < start:
                raise Invalid(f"range {first}-{last} runs backwards in the {field} field")
        values.update(range(start, stop + 1, step))
    if index == 4:
        values = {v % 7 for v in values}
    return values


def parse(expr: str, zone: tzinfo) -> BaseTrigger:
    """A trigger for a 5-field cron expression (or an ``@`` macro) with crontab(5) semantics."""
    text = MACROS.get(expr.strip().lower(), expr.strip().lower())
    fields = text.split()
    if len(fields) != 5:
        raise Invalid(f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                      f"not {len(fields)}")
    minute, hour, dom, month, dow = (_join(expand(f, i), f, i) for i, f in enumerate(fields))
    common = {"minute": minute, "hour": hour, "month": month, "timezone": zone}
    dom_restricted, dow_restricted = not fields[2].startswith("*"), not fields[4].startswith("*")
    if dom_restricted and dow_restricted:  # cron: either day field may match
        return OrTrigger([CronTrigger(day=dom, **common), CronTrigger(day_of_week=dow, **common)])
    # a field that starts with '*' (even '*/2') makes cron AND the two day fields
    return CronTrigger(day=dom, day_of_week=dow, **common)


def _join(values: set[int], text: str, index: int) -> str:
    """APScheduler's spelling of a field: ``*`` as is (cheapest to evaluate), otherwise the explicit values;
    days of the week by name, since APScheduler numbers them from Monday."""
    if text == "*":
        return "*"
    if index == 4:
        return ",".join(DAY_NAMES[v] for v in sorted(values))
    return ",".join(str(v) for v in sorted(values))


def parse_cron(expr: object, timezone: object = "UTC") -> BaseTrigger:
    """A 5-field cron expression in an IANA time zone; a clear 400 when either is wrong."""
    if not isinstance(expr, str) or not expr.strip():
        raise Invalid("cron expression is required")
    if not isinstance(timezone, str) or not timezone:
        raise Invalid("timezone must be an IANA name such as 'UTC' or 'Europe/Paris'")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone '{timezone}'") from None
    try:
        return parse(expr, zone)
    except Invalid as exc:
        raise Invalid(f"invalid cron expression '{expr}': {exc.message}") from None
    except ValueError as exc:
        raise Invalid(f"invalid cron expression '{expr}': {exc}") from None


def next_fire(expr: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (the ``next_fire`` the core schedules service takes)."""
    trigger = parse_cron(expr, timezone)
    # APScheduler returns the first fire time >= now; "after" means strictly later
    nxt = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if nxt is None:  # pragma: no cover - a 5-field cron always has a next time
        raise Invalid(f"cron expression '{expr}' never fires")
    return nxt
