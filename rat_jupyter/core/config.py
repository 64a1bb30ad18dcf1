"""Pipeline configuration: ``config.yaml`` overlaid per key by ``-- @key: value`` annotations.

Invalid values are errors at save/validate time; unknown keys are warnings (a typo should be visible, not
fatal). A strategy missing what it needs (``unique_key`` …) is an error, never a silent fallback.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from ..common.tables import PartitionField
from .errors import Invalid
from .names import validate_column

STRATEGIES = ("full_refresh", "incremental", "append_only", "delete_insert", "scd2", "snapshot")
INCREMENTAL_LIKE = frozenset(STRATEGIES) - {"full_refresh"}
TRANSFORMS = ("identity", "day", "month", "year", "hour")
ANNOTATION_RE = re.compile(r"^\s*(--|#)\s*@(\w+):\s*(.*?)\s*$")

KNOWN_KEYS = (
    "description", "materialized", "unique_key", "merge_strategy", "watermark_column",
    "archive_landing_zones", "partition_column", "partition_by", "scd_valid_from", "scd_valid_to",
    "max_retries", "retry_delay_seconds", "on_schema_change", "hard_deletes", "null_keys",
)
SCHEMA_CHANGES = ("append_new_columns", "sync_all_columns", "fail")
NULL_KEYS = ("reject", "allow")
HARD_DELETES = {"incremental": ("ignore", "delete"), "delete_insert": ("ignore", "delete"),
                "scd2": ("ignore", "invalidate")}


@dataclass(frozen=True)
class PipelineConfig:
    description: str = ""
    materialized: str = "table"
    unique_key: tuple[str, ...] = ()
    merge_strategy: str = "full_refresh"
    watermark_column: str | None = None
    archive_landing_zones: bool = False
    partition_column: str | None = None
    partition_by: tuple[PartitionField, ...] = ()
    scd_valid_from: str = "valid_from"
    scd_valid_to: str = "valid_to"
    max_retries: int = 0
    retry_delay_seconds: float = 0.0
    on_schema_change: str = "append_new_columns"
    hard_deletes: str = "ignore"
    null_keys: str = "reject"
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_incremental_like(self) -> bool:
        return self.merge_strategy in INCREMENTAL_LIKE

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unique_key"] = list(self.unique_key)
        data["partition_by"] = [asdict(p) for p in self.partition_by]
        data["warnings"] = list(self.warnings)
        return data


def parse_annotations(source: str) -> tuple[dict[str, str], str]:
    """Read ``-- @key: value`` (or ``# @key: value``) lines at the top of a file.

    Parsing stops at the first line that is neither blank nor a comment. Returns the annotations and the
    source with annotation lines blanked (line numbers stay the same, so errors point at the right line).
    """
    found: dict[str, str] = {}
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        m = ANNOTATION_RE.match(line)
        if m:
            found.setdefault(m.group(2), m.group(3))
            lines[i] = "\n" if line.endswith("\n") else ""
            continue
        if not stripped or stripped.startswith("--") or stripped.startswith("#"):
            continue
        break
    return found, "".join(lines)


def _as_list(value: Any, key: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.strip("[]").split(",")]
    elif isinstance(value, list):
        items = [str(v).strip() for v in value]
    else:
        raise Invalid(f"config '{key}' must be a list or a comma-separated string")
    return tuple(validate_column(v, key) for v in items if v)


def _as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise Invalid(f"config '{key}' must be true or false, not {value!r}")


def _as_number(value: Any, key: str, *, integer: bool) -> Any:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise Invalid(f"config '{key}' must be a number, not {value!r}") from None
    if number < 0:
        raise Invalid(f"config '{key}' must not be negative")
    return number


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(raw.get(key, allowed[0])).strip()
    if value not in allowed:
        raise Invalid(f"invalid {key} '{value}': use one of {', '.join(allowed)}")
    return value


def _partition_by(value: Any) -> tuple[PartitionField, ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        raise Invalid("config 'partition_by' must be a list of {column, transform}")
    out = []
    for item in value:
        if isinstance(item, str):
            item = {"column": item}
        if not isinstance(item, dict) or "column" not in item:
            raise Invalid("each 'partition_by' entry needs a 'column'")
        transform = str(item.get("transform", "identity"))
        if transform not in TRANSFORMS:
            raise Invalid(f"invalid partition transform '{transform}': use one of {', '.join(TRANSFORMS)}")
        out.append(PartitionField(validate_column(item["column"], "partition column"), transform))
    return tuple(out)


def load_yaml(text: str | None) -> dict[str, Any]:
    if not text or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"config.yaml is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid("config.yaml must be a mapping of key: value")
    return data


def build_config(yaml_text: str | None, annotations: dict[str, str] | None = None) -> PipelineConfig:
    """Merge config.yaml with annotations (annotations win per key) and validate the result."""
    raw = load_yaml(yaml_text)
    for key, value in (annotations or {}).items():
        if key == "partition_by":
            raise Invalid("'partition_by' can only be set in config.yaml")
        raw[key] = value
    warnings = [f"unknown config key '{k}' ignored" for k in raw if k not in KNOWN_KEYS]

    strategy = str(raw.get("merge_strategy", "full_refresh")).strip()
    if strategy not in STRATEGIES:
        raise Invalid(f"unknown merge_strategy '{strategy}': use one of {', '.join(STRATEGIES)}")
    materialized = str(raw.get("materialized", "table"))
    if materialized != "table":
        raise Invalid(f"materialized '{materialized}' is not supported: only 'table'")
    unique_key = _as_list(raw.get("unique_key"), "unique_key")
    if strategy in ("incremental", "delete_insert", "scd2") and not unique_key:
        raise Invalid(f"merge_strategy '{strategy}' needs a unique_key")
    partition_column = raw.get("partition_column")
    if partition_column is not None:
        partition_column = validate_column(str(partition_column).strip(), "partition_column")
    if strategy == "snapshot" and not partition_column:
        raise Invalid("merge_strategy 'snapshot' needs a partition_column")
    watermark = raw.get("watermark_column")
    if watermark is not None:
        watermark = validate_column(str(watermark).strip(), "watermark_column")
    on_schema_change = _choice(raw, "on_schema_change", SCHEMA_CHANGES)
    null_keys = _choice(raw, "null_keys", NULL_KEYS)
    hard_deletes = str(raw.get("hard_deletes", "ignore")).strip()
    if hard_deletes != "ignore" and hard_deletes not in HARD_DELETES.get(strategy, ()):
        allowed = HARD_DELETES.get(strategy, ("ignore",))
        raise Invalid(f"hard_deletes '{hard_deletes}' is not valid for merge_strategy '{strategy}': "
                      f"use {' or '.join(allowed)}")
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 5000:
        raise Invalid("description must be text of at most 5000 characters")
    config = PipelineConfig(
        description=description,
        materialized=materialized,
        unique_key=unique_key,
        merge_strategy=strategy,
        watermark_column=watermark,
        archive_landing_zones=_as_bool(raw.get("archive_landing_zones", False), "archive_landing_zones"),
        partition_column=partition_column,
        partition_by=_partition_by(raw.get("partition_by")),
        scd_valid_from=validate_column(str(raw.get("scd_valid_from", "valid_from")), "scd_valid_from"),
        scd_valid_to=validate_column(str(raw.get("scd_valid_to", "valid_to")), "scd_valid_to"),
        max_retries=_as_number(raw.get("max_retries", 0), "max_retries", integer=True),
        retry_delay_seconds=_as_number(raw.get("retry_delay_seconds", 0), "retry_delay_seconds", integer=False),
        on_schema_change=on_schema_change,
        hard_deletes=hard_deletes,
        null_keys=null_keys,
        warnings=tuple(warnings),
    )
    if config.max_retries > 10:
        raise Invalid("max_retries must be at most 10")
    return config


def dump_config(values: dict[str, Any]) -> str:
    """Serialize a config mapping for ``config.yaml`` (validated first)."""
    build_config(yaml.safe_dump(values))
    return yaml.safe_dump(values, sort_keys=False)
