"""How a table is laid out, as a pipeline's ``config.yaml`` declares it and the Iceberg catalog creates it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionField:
    """One partition field: a column and an Iceberg transform (``identity``, ``day``, ``month``, …)."""

    column: str
    transform: str = "identity"
