"""Quality tests: the ``tests/*.sql`` files of a pipeline — list, read, save, delete.

Running them is ``previews.py`` (on the executor, like a preview); a run's own tests run inside the run.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Invalid, NotFound, TooLarge
from ..models import CreateTest, UpdateTest
from ..names import PipelineId, validate_name
from ..pipelines import TEST_DIR, parse_test
from .base import Service


class QualityService(Service):
    def list(self, pid: PipelineId) -> list[dict[str, Any]]:
        row = self.state.get_pipeline(*pid.table_identifier)
        published = self._published(row)
        out = []
        for path, content in sorted(self.ws.files.draft(pid).items()):
            if path.startswith(TEST_DIR) and path.endswith(".sql") and path.count("/") == 2:
                try:
                    test = parse_test(path[len(TEST_DIR):-4], content).to_dict()
                except Invalid:
                    continue
                out.append(self._describe(pid, test, path, published))
        return out

    def get(self, pid: PipelineId, test: str) -> dict[str, Any]:
        """One test, reading its own file only (not every file of the pipeline, as :meth:`list` does)."""
        validate_name(test, "test name")
        row = self.state.get_pipeline(*pid.table_identifier)
        path = f"{TEST_DIR}{test}.sql"
        try:
            found = parse_test(test, self.storage.read_text(pid.prefix + path)).to_dict()
        except (NotFound, Invalid):  # missing, not text, or not a test: what list() leaves out
            raise NotFound(f"quality test '{test}' not found") from None
        return self._describe(pid, found, path, self._published(row))

    def _published(self, row: dict[str, Any]) -> set[str]:
        """The paths of the pipeline's published version (empty when it was never published)."""
        if not row["published_version"]:
            return set()
        return set(self.state.get_version(row["id"], row["published_version"])["files"])

    @staticmethod
    def _describe(pid: PipelineId, test: dict[str, Any], path: str, published: set[str]) -> dict[str, Any]:
        return {**test, "published": path in published, "path": pid.prefix + path}

    def save(self, pid: PipelineId, test: str, req: CreateTest | UpdateTest, *, create: bool = True) -> dict:
        """Write ``tests/<test>.sql``: ``create`` refuses an existing test, otherwise a missing one."""
        validate_name(test, "test name")
        if not req.sql.strip():
            raise Invalid("test sql is required")
        if len(req.sql.encode()) > 500_000:
            raise TooLarge("test sql is larger than 500 KB")
        path = f"{pid.prefix}{TEST_DIR}{test}.sql"
        exists = self.storage.exists(path)
        if create and exists:
            raise Conflict(f"quality test '{test}' already exists")
        if not create and not exists:
            raise NotFound(f"quality test '{test}' not found")
        severity = "warn" if req.severity == "warning" else req.severity
        header = ""
        if severity is not None and "@severity:" not in req.sql:
            header += f"-- @severity: {severity}\n"
        if req.description and "@description:" not in req.sql:
            header += f"-- @description: {req.description}\n"
        self.ws.files.write(path, header + req.sql)
        return self.get(pid, test)

    def delete(self, pid: PipelineId, test: str) -> None:
        validate_name(test, "test name")
        path = f"{pid.prefix}{TEST_DIR}{test}.sql"
        if not self.storage.exists(path):
            raise NotFound(f"quality test '{test}' not found")
        self.ws.files.delete(path)
