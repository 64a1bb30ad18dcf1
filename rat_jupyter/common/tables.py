"""How a table is laid out, as a pipeline's ``config.yaml`` declares it and the Iceberg catalog creates it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


# How many units of :func:`metadata_weight` a per-process memo of parsed table metadata holds (~140 MiB): about
# 600 tables with a full 50-snapshot history, so the 500-model DAG of the benchmark never reloads a table it
# holds even once every history is full (a table out of the memo costs a parse, ~2-8 ms at 50 snapshots, and
# a DAG that cycles through more tables than the bound misses on every load). The bound by count it replaces
# (4,096 tables) allowed ~900 MiB per worker.
METADATA_UNITS = 32_768


def metadata_weight(metadata: Any) -> int:
    """About what a parsed ``metadata.json`` holds, in units of one snapshot (~4.3 KiB of pyiceberg's models with
    its summary): its snapshots, and four for the schema, spec, sort order and name mapping any table has."""
    return 4 + len(metadata.snapshots)
