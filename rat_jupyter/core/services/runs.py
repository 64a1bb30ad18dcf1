"""Runs as the API sees them: submit a selection's runs, read run records and logs, cancel, wait.

Submitting records ``pending`` rows in the state store (the version each run executes is fixed here); the
``RunManager`` (``core/runs.py``, ``ws.runs``) of whichever server claims a row executes it. Cancel is a state
change the owning server acts on, whichever process asked.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Invalid
from ..models import CreateRun
from ..names import PipelineId
from .base import Service, run_id
from .files import VERSIONS


class RunView:
    """Attribute access over a run record (handy in notebooks and benchmarks)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def __getattr__(self, item: str) -> Any:
        try:
            return self.record[item]
        except KeyError:
            raise AttributeError(item) from None

    def __repr__(self) -> str:
        r = self.record
        return f"<Run {r['namespace']}.{r['layer']}.{r['name']} {r['status']} rows={r.get('rows_written')}>"


class RunService(Service):
    def submit(self, selector: str, *, trigger: str = "manual", version: str = "published", wait: bool = False,
               timeout: float | None = None, submitted_by: str | None = None) -> list[RunView]:
        """Submit runs of a selection: pending rows in the state store, executed by the server that claims
        them (this one when it is a server). The version each run executes is fixed here."""
        if version not in VERSIONS:
            raise Invalid(f"version must be one of {', '.join(VERSIONS)}")
        order, graph = self.ws.graph.select(selector, version)
        versions = {pid: self._version(pid, version) for pid in order}  # validates: never published → 409
        runs = self.ws.runs.submit(order, {p: graph.upstream(p) for p in order}, trigger, versions, submitted_by)
        if wait:
            runs = self.ws.runs.wait([r["id"] for r in runs], timeout)
        return [RunView(r) for r in runs]

    def create(self, req: CreateRun, submitted_by: str | None = None) -> list[dict[str, Any]]:
        """``POST /runs``: one pipeline (and downstream) or a selection, every run in DAG order."""
        if req.select is not None:
            selector = req.select
        else:
            assert req.namespace is not None and req.layer is not None and req.pipeline is not None  # the model
            selector = f"{PipelineId.of(req.namespace, req.layer, req.pipeline)}{'+' if req.downstream else ''}"
        return [r.record for r in self.submit(selector, trigger=req.trigger or "manual", version=req.version,
                                              submitted_by=submitted_by)]

    def _version(self, pid: PipelineId, version: str) -> str:
        """The version a run of ``pid`` executes, read from its row (the published files are not loaded)."""
        if version == "draft":
            return self.ws.files.of_version(pid, "draft")[1]
        number = self.state.get_pipeline(*pid.table_identifier)["published_version"]
        if not number:
            raise Conflict(f"pipeline {pid} has never been published; publish it or run the draft "
                           f"(version 'draft')")
        return str(number)

    def get(self, run: str) -> dict[str, Any]:
        """A run record with the quality results it recorded."""
        record = self.state.get_run(run_id(run))
        record["quality"] = self.state.quality_results(record["id"])
        return record

    def list(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        return self.state.list_runs(**filters)

    def cancel(self, run: str) -> dict[str, Any]:
        return self.ws.runs.cancel(run_id(run))

    def logs(self, run: str, after: int = 0) -> dict[str, Any]:
        record = self.state.get_run(run_id(run))
        return {"logs": self.state.get_logs(record["id"], after), "status": record["status"]}

    def wait(self, run_ids: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        return self.ws.runs.wait(run_ids, timeout)
