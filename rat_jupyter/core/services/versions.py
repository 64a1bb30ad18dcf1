"""Versions: validate a pipeline's files, publish the draft as an immutable version, list and read versions,
roll back (a new version that re-pins an old one's files, restoring the draft too).

Versions are content-addressed in the state store: a version maps paths to blob hashes, so publishing the
same file twice stores it once, and the editor diffs the draft against a version's text.
"""

from __future__ import annotations

from typing import Any

from ..errors import CycleError, Unprocessable
from ..models import PublishPipeline, RollbackPipeline
from ..names import PipelineId
from ..pipelines import digest, validate_files
from .base import Service


class VersionService(Service):
    def validate(self, pid: PipelineId, files: dict[str, str] | None = None) -> dict[str, Any]:
        """The report of ``files`` (the draft when ``None``): each file's errors, and a cycle it would close."""
        self.state.get_pipeline(*pid.table_identifier)
        files = files if files is not None else self.ws.files.draft(pid)
        report = validate_files(pid, files)
        if report["valid"]:
            graph = self.ws.graph.dag(extra={pid: files}, version="draft", strict=False)
            cycle = graph.cycle_through(pid)
            if cycle:
                message = CycleError([str(n) for n in reversed(cycle)]).message
                report["valid"] = False
                report["files"].append({"path": "", "valid": False, "errors": [message], "warnings": []})
        return report

    def publish(self, pid: PipelineId, req: PublishPipeline) -> dict[str, Any]:
        """Snapshot the draft files into an immutable version (content-addressed in the state store)."""
        row = self.state.get_pipeline(*pid.table_identifier)
        files = self.ws.files.draft(pid)
        report = self.validate(pid, files)
        if not report["valid"]:
            raise Unprocessable("pipeline is not valid; nothing was published", details={"validation": report})
        self.state.put_blobs({digest(c): c for c in files.values()})
        version = self.state.add_version(row["id"], {p: digest(c) for p, c in files.items()}, req.message)
        self.ws.graph.record(pid, row["id"], files, published=True)
        self.ws.graph.record(pid, row["id"], files)
        return {"status": "published", "version": version["version"], "message": version["message"],
                "files": sorted(version["files"])}

    def list(self, pid: PipelineId) -> list[dict[str, Any]]:
        row = self.state.get_pipeline(*pid.table_identifier)
        return self.state.list_versions(row["id"])

    def get(self, pid: PipelineId, number: int) -> dict[str, Any]:
        """One version with its files' text, so an editor can diff the draft against what runs."""
        row = self.state.get_pipeline(*pid.table_identifier)
        version = self.state.get_version(row["id"], int(number))
        blobs = self.state.get_blobs(version["files"].values())
        return {**version, "contents": {path: blobs[h] for path, h in version["files"].items()}}

    def rollback(self, pid: PipelineId, req: RollbackPipeline) -> dict[str, Any]:
        """A new version that re-pins an old snapshot; the draft files are restored to it too."""
        row = self.state.get_pipeline(*pid.table_identifier)
        old = self.state.get_version(row["id"], req.version)
        blobs = self.state.get_blobs(old["files"].values())
        for f in self.storage.list(pid.prefix):
            if f.path[len(pid.prefix):] not in old["files"]:
                self.storage.delete(f.path)
        for path, h in old["files"].items():
            self.storage.write(pid.prefix + path, blobs[h].encode())
        new = self.state.add_version(row["id"], old["files"], req.message or f"rollback to version {req.version}",
                                     rolled_back_from=req.version)
        restored = {path: blobs[h] for path, h in old["files"].items()}
        self.ws.graph.record(pid, row["id"], restored, published=True)
        self.ws.graph.record(pid, row["id"], restored)
        return {"status": "rolled_back", "from_version": req.version, "new_version": new["version"],
                "message": new["message"]}
