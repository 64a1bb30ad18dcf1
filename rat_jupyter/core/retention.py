"""Retention settings (RET-01). Every setting shown here is applied by the reaper."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import Invalid

SETTING_KEY = "retention_config"


@dataclass(frozen=True)
class RetentionConfig:
    runs_max_per_pipeline: int = 100
    runs_max_age_days: int = 90
    logs_max_age_days: int = 30
    quality_results_max_per_test: int = 100
    soft_delete_purge_days: int = 30
    stuck_run_timeout_minutes: int = 120
    audit_log_max_age_days: int = 365
    orphan_branch_max_age_hours: int = 6
    reaper_interval_minutes: int = 60
    iceberg_snapshot_max_age_days: int = 7
    iceberg_orphan_file_max_age_days: int = 3

    # Orphan files younger than a day may belong to a run that is writing right now (a staged data file not
    # committed yet): deleting them would break that commit, so the reaper never goes below one day.
    MINIMUM = {"runs_max_per_pipeline": 1, "reaper_interval_minutes": 1, "stuck_run_timeout_minutes": 1,
               "iceberg_orphan_file_max_age_days": 1}

    @classmethod
    def load(cls, state: Any) -> RetentionConfig:
        stored = state.get_setting(SETTING_KEY, {}) or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in known})

    def save(self, state: Any) -> None:
        state.put_setting(SETTING_KEY, self.to_dict())

    def merge(self, changes: dict[str, Any]) -> RetentionConfig:
        if not isinstance(changes, dict):
            raise Invalid("retention config must be a JSON object")
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise Invalid(f"unknown retention setting(s): {', '.join(sorted(unknown))}")
        values = self.to_dict()
        for key, value in changes.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise Invalid(f"'{key}' must be an integer")
            low = self.MINIMUM.get(key, 0)
            if value < low or value > 1_000_000:
                raise Invalid(f"'{key}' must be between {low} and 1000000")
            values[key] = value
        return RetentionConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
