"""The portal previews a schedule's next fire times in the browser; they must be the server's.

``packages/ui/src/schedules/cron.fixture.json`` holds fire times computed here by the scheduler's own
``next_fire`` (and its refusals); the vitest suite checks the TypeScript port against the same file. This test
fails when the server's cron behaviour changes without the fixture (and so the port) following. Regenerate:
``.venv/bin/python tests/scheduler/test_portal_cron_fixture.py > packages/ui/src/schedules/cron.fixture.json``
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rat_jupyter.core.errors import Invalid
from rat_jupyter.scheduler.service import next_fire, parse_cron

EXPRESSIONS = [
    "* * * * *", "*/15 * * * *", "0 * * * *", "0 2 * * *", "30 2 * * *", "*/30 1-3 * * *", "0 6 * * mon-fri",
    "0 9 * * 1-5", "0 0 * * 0", "0 0 * * 6", "0 0 * * sun", "0 0 1 * *", "0 0 31 * *", "0 0 29 2 *",
    "0 0 13 * 5", "0 0 13 * fri", "5,10-20/5,45 */4 * * *", "0 0 1 jan,jul *", "0 0 * * 7", "0 0 * * 5-7",
    "0 12 * feb-apr sat-sun", "59 23 31 12 *", "0 0 1-7 * mon", "0 0 */2 * mon", "7/20 * * * *", "0 3-23/7 * * *",
    "@daily", "@hourly", "@weekly", "@monthly", "@yearly",
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]
AFTERS = ["2026-12-02T00:46:00+00:00", "2026-03-28T12:00:00+00:00", "2026-10-24T22:59:59.500000+00:00",
          "2026-03-08T06:30:00+00:00", "2026-11-01T04:00:00+00:00", "2028-02-28T23:59:00+00:00"]
INVALID = ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8",
           "*/0 * * * *", "5-3 * * * *", "0 0 * * funday", "0 0 * foo *", "1,,2 * * * *", "0 0 L * *",
           "*/60 * * * *", "15 10 last * *", "0 0 * * mon#2", "0 0 ? * *", "0 0 15W * *", "@reboot"]


def build() -> dict[str, list[dict[str, Any]]]:
    cases = []
    for expr in EXPRESSIONS:
        for tz in ZONES:
            for after in AFTERS:
                t = datetime.fromisoformat(after)
                out = []
                for _ in range(5):
                    # the server passes its UTC clock, never a zoned time (zoned arithmetic ignores fold)
                    t = next_fire(expr, tz, t).astimezone(UTC)
                    out.append(t.isoformat(timespec="seconds").replace("+00:00", "Z"))
                cases.append({"cron": expr, "timezone": tz, "after": after, "next": out})
    invalid = []
    for expr in INVALID:
        try:
            parse_cron(expr, "UTC")
        except Invalid as exc:
            invalid.append({"cron": expr, "message": exc.message})
        else:
            invalid.append({"cron": expr, "message": None})
    return {"cases": cases, "invalid": invalid}


FIXTURE = Path(__file__).resolve().parents[2] / "packages" / "ui" / "src" / "schedules" / "cron.fixture.json"


def test_portal_cron_fixture_matches_the_scheduler() -> None:
    committed = json.loads(FIXTURE.read_text())
    assert committed == build(), f"regenerate {FIXTURE.name}: the scheduler's cron behaviour changed"


def test_fixture_covers_dst_changes_and_refusals() -> None:
    data = build()
    zones = {c["timezone"] for c in data["cases"]}
    assert {"Europe/Paris", "America/New_York", "Australia/Lord_Howe"} <= zones
    refused = [c for c in data["invalid"] if c["message"]]
    assert len(refused) >= 10


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=1)
    sys.stdout.write("\n")
