"""Renaming a pipeline: its files, its Iceberg table, and what refers to it by name, all or nothing.

A rename is refused (``Conflict``) while other pipelines ``ref()`` it (their SQL would break), while a run of
it is pending or running, and when the new name is taken. Otherwise the files are copied to the new prefix,
the table is renamed in the catalog (snapshots and history kept), and the state store renames the row with
its runs, schedules and triggers in one transaction; only then are the old files removed. A failure at any
step undoes the steps before it, so the pipeline is either renamed entirely or left as it was.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Conflict
from ..models import RenamePipeline
from ..names import PipelineId
from .base import Service
from .pipelines import describe


class RenameService(Service):
    def dependents(self, pid: PipelineId) -> list[PipelineId]:
        """The live pipelines whose draft or published version ``ref()``s ``pid``."""
        out = []
        for row in self.state.list_pipelines()[0]:
            other = PipelineId(row["namespace"], row["layer"], row["name"])
            if other == pid:
                continue
            refs = set(self.ws.graph.draft_deps(row)[0])
            refs |= {PipelineId(*r.split(".")) for r in json.loads(row.get("published_deps") or "[]")}
            if pid in refs:
                out.append(other)
        return sorted(out, key=str)

    def rename(self, pid: PipelineId, req: RenamePipeline) -> dict[str, Any]:
        row = self.state.get_pipeline(*pid.table_identifier)
        new = PipelineId.of(pid.namespace, pid.layer, req.name)
        if new == pid:
            return describe(row)
        if self.state.find_pipeline(*new.table_identifier):
            raise Conflict(f"pipeline {new} already exists")
        users = self.dependents(pid)
        if users:
            raise Conflict(f"pipeline {pid} is referenced by {', '.join(map(str, users))}: change their ref() "
                           "first", details={"dependents": [str(u) for u in users]})
        active = self.state.active_runs(*pid.table_identifier)
        if active:
            runs = ", ".join(f"{r['id']} ({r['status']})" for r in active)
            raise Conflict(f"pipeline {pid} has runs in progress: {runs}; wait for them or cancel them first",
                           details={"runs": [r["id"] for r in active]})
        moved = self._copy_files(pid, new)
        try:
            renamed_table = self.ws.catalog.rename(pid, new)
            try:
                self.state.rename_pipeline(row["id"], new.name)
            except BaseException:
                if renamed_table:
                    self.ws.catalog.rename(new, pid)
                raise
        except BaseException:
            for path in moved.values():
                self.storage.delete(path)
            raise
        for old_path in moved:
            self.storage.delete(old_path)
        self.ws.graph.changed()
        self.ws.graph.record(new, row["id"], self.ws.files.draft(new))
        return describe(self.state.get_pipeline(*new.table_identifier))

    def _copy_files(self, pid: PipelineId, new: PipelineId) -> dict[str, str]:
        """Every file of ``pid`` written under ``new``'s prefix (old path → new path); on failure the copies
        made so far are removed and nothing has changed."""
        for f in self.storage.list(new.prefix):  # files of a deleted pipeline with the new name (as create does)
            self.storage.delete(f.path)
        moved: dict[str, str] = {}
        try:
            for f in self.storage.list(pid.prefix):
                target = new.prefix + f.path[len(pid.prefix):]
                self.storage.write(target, self.storage.read(f.path))
                moved[f.path] = target
        except BaseException:
            for path in moved.values():
                self.storage.delete(path)
            raise
        return moved
