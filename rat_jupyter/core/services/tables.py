"""The explorer: tables (row counts and sizes from the Iceberg snapshot summary, no scan), their schema,
metadata and history, a preview of their rows, and the read-only query service behind ``POST /query``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ...common.tables import live_records
from ..errors import Invalid, NotFound
from ..models import UpdateTableMetadata
from ..names import PipelineId, validate_layer, validate_namespace
from .base import Service, ms_iso

if TYPE_CHECKING:
    from ..query import QueryService
    from ..workspace import Workspace


class TableService(Service):
    def __init__(self, ws: Workspace) -> None:
        super().__init__(ws)
        self._lock = threading.Lock()
        self._query: QueryService | None = None

    @property
    def query_service(self) -> QueryService:
        """The read-only DuckDB query service over the catalog, built on first use."""
        if self._query is None:
            from ..query import QueryService

            with self._lock:
                if self._query is None:
                    self._query = QueryService(self.settings, self.ws.catalog)
        return self._query

    def close(self) -> None:
        if self._query is not None:
            self._query.close()

    # -- query --------------------------------------------------------------------------------------
    def query(self, sql: str, namespace: str | None = None, limit: int | None = None) -> dict[str, Any]:
        return self.query_service.execute(sql, namespace, limit)

    def schema(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace:
            validate_namespace(namespace)
        return self.query_service.schema(namespace)

    # -- tables -------------------------------------------------------------------------------------
    def list(self, namespace: str | None = None, layer: str | None = None) -> list[dict[str, Any]]:
        """Tables with row counts and sizes from the Iceberg snapshot summary (no scan needed)."""
        if namespace:
            validate_namespace(namespace)
        if layer:
            validate_layer(layer)
        return [self._summary(pid) for pid in self.ws.catalog.list_tables(namespace)
                if not layer or pid.layer == layer]

    def load(self, pid: PipelineId) -> Any:
        """The Iceberg table of ``pid``, or ``NotFound``."""
        table = self.ws.catalog.load(pid)
        if table is None:
            raise NotFound(f"table {pid} not found")
        return table

    def _summary(self, pid: PipelineId, table: Any = None) -> dict[str, Any]:
        table = table or self.ws.catalog.load(pid)
        snap = table.metadata.snapshot_by_name("main") if table is not None else None
        summary = snap.summary.additional_properties if snap and snap.summary else {}
        meta = self.state.get_table_metadata(*pid.table_identifier)
        return {"namespace": pid.namespace, "layer": pid.layer, "name": pid.name,
                "row_count": live_records(summary),
                "size_bytes": int(summary.get("total-files-size", 0)),
                "snapshot_id": str(snap.snapshot_id) if snap else None,
                "updated_at": ms_iso(snap.timestamp_ms) if snap else None,
                "description": meta["description"], "owner": meta["owner"]}

    def describe(self, pid: PipelineId) -> dict[str, Any]:
        table = self.load(pid)
        out = self._summary(pid, table)
        descriptions = self.state.get_table_metadata(*pid.table_identifier)["column_descriptions"]
        out["columns"] = [{"name": f.name, "type": str(f.field_type), "required": f.required,
                           "description": descriptions.get(f.name, "")} for f in table.schema().fields]
        out["partition_spec"] = [str(f) for f in table.spec().fields]
        out["location"] = table.location()
        return out

    def preview(self, pid: PipelineId, limit: int = 50) -> dict[str, Any]:
        table = self.load(pid)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise Invalid("limit must be between 1 and 1000")
        # the table's own snapshot says how many rows it has: no second scan to count them
        out = self.query_service.execute(f"SELECT * FROM {pid.sql}", None, limit, count=False)
        if out["truncated"]:
            out["matched_rows"] = self._summary(pid, table)["row_count"]
        return out

    def history(self, pid: PipelineId) -> list[dict[str, Any]]:
        """Iceberg snapshots of ``main``, newest first (what each run published)."""
        table = self.load(pid)
        main = table.metadata.snapshot_by_name("main")
        by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
        snap = by_id.get(main.snapshot_id) if main else None
        out = []
        while snap is not None:
            props = snap.summary.additional_properties if snap.summary else {}
            out.append({"snapshot_id": str(snap.snapshot_id),
                        "parent_id": str(snap.parent_snapshot_id) if snap.parent_snapshot_id else None,
                        "timestamp": ms_iso(snap.timestamp_ms),
                        "operation": str(snap.summary.operation.value) if snap.summary else None,
                        "added_records": int(props.get("added-records", 0)),
                        "deleted_records": int(props.get("deleted-records", 0)),
                        "total_records": live_records(props)})
            snap = by_id.get(snap.parent_snapshot_id) if snap.parent_snapshot_id else None
        return out

    def update_metadata(self, pid: PipelineId, req: UpdateTableMetadata) -> dict[str, Any]:
        """Description, owner and column descriptions (merged into the ones recorded)."""
        self.load(pid)
        current = self.state.get_table_metadata(*pid.table_identifier)
        columns = {**current["column_descriptions"], **(req.column_descriptions or {})}
        return self.state.put_table_metadata(
            *pid.table_identifier, req.description if req.description is not None else current["description"],
            req.owner if req.owner is not None else current["owner"], columns)

    def read(self, pid: PipelineId, snapshot_id: int | None = None) -> Any:
        """The table's published rows as an Arrow table (tests and notebooks)."""
        return self.load(pid).scan(snapshot_id=snapshot_id).to_arrow()
