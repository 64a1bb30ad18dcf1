"""How a table is laid out, as a pipeline's ``config.yaml`` declares it and the Iceberg catalog creates it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionField:
    """One partition field: a column and an Iceberg transform (``identity``, ``day``, ``month``, …)."""

    column: str
    transform: str = "identity"


def live_records(summary: Mapping[str, str]) -> int:
    """The rows a reader of the snapshot sees. Iceberg's ``total-records`` counts every row of the data files,
    including the ones position-delete files remove (keyed upserts write those, ADR 0023), so those are taken
    off; a malformed or missing count reads as 0."""

    def count(key: str) -> int:
        try:
            return int(summary.get(key, 0))
        except (TypeError, ValueError):
            return 0

    return max(0, count("total-records") - count("total-position-deletes"))


def table_folder(location: str) -> str:
    """The folder of the table a file under its ``metadata/`` folder belongs to (a metadata file, a manifest
    list): what the per-process memos key "this table's newest version" by, since the path is all they see."""
    return location.rsplit("/metadata/", 1)[0]
