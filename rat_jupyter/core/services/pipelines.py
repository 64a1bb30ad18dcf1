"""Pipeline records: create (with the template files of a new pipeline), get, list, update, soft delete.

A pipeline's files are ``files.py``, its versions ``versions.py``, what it reads ``graph.py``; this module owns
the row in the state store and what a new pipeline starts with.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Invalid
from ..models import CreatePipeline, UpdatePipeline
from ..names import PipelineId, validate_layer, validate_namespace
from ..pipelines import validate_file
from .base import Service

PYTHON_TEMPLATE = (
    "# @merge_strategy: full_refresh\n"
    "# Available: duckdb_conn, ref(), this, config, is_incremental, log, landing_zone(), pa\n"
    "result = duckdb_conn.sql(\"SELECT 1 AS id\").arrow()\n"
)


def sql_template(pid: PipelineId) -> str:
    """A new SQL pipeline's source: bronze reads a landing zone, silver and gold the layer below."""
    if pid.layer == "bronze":
        return "-- @merge_strategy: full_refresh\nSELECT *\nFROM read_csv_auto('{{ landing_zone(\"raw\") }}')\n"
    lower = "bronze" if pid.layer == "silver" else "silver"
    return f"-- @merge_strategy: full_refresh\nSELECT *\nFROM {{{{ ref('{lower}.source') }}}}\n"


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """A pipeline row as the API shows it."""
    out = dict(row)
    out["draft_dirty"] = bool(out["draft_dirty"])
    out["s3_path"] = f"{row['namespace']}/pipelines/{row['layer']}/{row['name']}/"
    out.pop("deleted_at", None)
    out["retention_config"] = None if not row.get("retention_config") else row["retention_config"]
    return out


class PipelineService(Service):
    def create(self, req: CreatePipeline, owner: str | None = None) -> dict[str, Any]:
        """Create the pipeline record and its files (a template when no source is given), all validated
        before anything is written."""
        pid = PipelineId.of(req.namespace, req.layer, req.name)
        self.state.get_namespace(pid.namespace)
        if self.state.find_pipeline(*pid.table_identifier):
            raise Conflict(f"pipeline {pid} already exists")
        src_name = "pipeline.sql" if req.type == "sql" else "pipeline.py"
        source = req.source if req.source is not None else (
            sql_template(pid) if req.type == "sql" else PYTHON_TEMPLATE)
        files = {src_name: source}
        cfg = dict(req.config or {})
        if req.merge_strategy:
            cfg["merge_strategy"] = req.merge_strategy
        unique_key = req.unique_keys()
        if unique_key:
            cfg["unique_key"] = list(unique_key)
        if req.description and "description" not in cfg:
            cfg["description"] = req.description
        if cfg:
            import yaml

            files["config.yaml"] = yaml.safe_dump(cfg, sort_keys=False)
        for path, content in files.items():
            validate_file(pid, path, content, files)
        row = self.state.create_pipeline(*pid.table_identifier, req.type, req.description, owner)
        for f in self.storage.list(pid.prefix):  # files of a deleted pipeline with the same name
            self.storage.delete(f.path)
        for path, content in files.items():
            self.storage.write(pid.prefix + path, content.encode())
        self.ws.graph.record(pid, row["id"], files)
        out = describe(row)
        out["files_created"] = sorted(pid.prefix + p for p in files)
        return out

    def get(self, pid: PipelineId) -> dict[str, Any]:
        return describe(self.state.get_pipeline(*pid.table_identifier))

    def list(self, namespace: str | None = None, layer: str | None = None, search: str | None = None,
             sort: str | None = None, limit: int | None = None, offset: int = 0
             ) -> tuple[list[dict[str, Any]], int]:
        """Pipelines with the latest run of each."""
        if namespace:
            validate_namespace(namespace)
        if layer:
            validate_layer(layer)
        rows, total = self.state.list_pipelines(namespace, layer, search, sort, limit, offset)
        latest = self.state.latest_runs()
        out = []
        for r in rows:
            d = describe(r)
            run = latest.get((r["namespace"], r["layer"], r["name"]))
            d["last_run"] = None if run is None else {k: run[k] for k in ("id", "status", "created_at", "finished_at")}
            out.append(d)
        return out, total

    def update(self, pid: PipelineId, req: UpdatePipeline) -> dict[str, Any]:
        """Description and owner; ``type`` is accepted only unchanged (it follows the source file)."""
        row = self.state.get_pipeline(*pid.table_identifier)
        if req.type is not None and req.type != row["type"]:
            raise Invalid("a pipeline's type follows its source file; replace pipeline.sql/.py instead")
        changes = {k: v for k, v in (("description", req.description), ("owner", req.owner)) if v is not None}
        self.state.update_pipeline(row["id"], **changes)
        return self.get(pid)

    def delete(self, pid: PipelineId) -> None:
        """Soft delete: the record is hidden at once; files and table are purged by the reaper later."""
        row = self.state.get_pipeline(*pid.table_identifier)
        if self.state.active_runs(*pid.table_identifier):
            raise Conflict(f"pipeline {pid} has an active run; cancel it first")
        self.state.soft_delete_pipeline(row["id"])
        self.ws.graph.changed()
