"""Files: a pipeline's draft and published files, and storage files by path (read, write, delete, list).

Writing a pipeline file validates it first (an invalid one is refused and nothing is written) and records
what the pipeline reads, so the dependency graph never re-parses every pipeline.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Invalid, NotFound, TooLarge
from ..names import PipelineId, validate_namespace, validate_path, validate_prefix
from ..pipelines import SOURCE_FILES, validate_file
from .base import Service

VERSIONS = ("published", "draft")


def file_type(path: str) -> str:
    """What a file is, for the file browser's icons and filters."""
    name = path.rsplit("/", 1)[-1]
    if "/tests/" in f"/{path}" or name.startswith("test_"):
        return "test"
    if "/hooks/" in f"/{path}" or name.startswith(("hook_", "pre_", "post_")):
        return "hook"
    if name.endswith(".meta.yaml"):
        return "meta"
    if name in ("config.yaml", "config.yml", "schema.yaml", "schema.yml"):
        return "config"
    if name == "pipeline.py":
        return "pipeline-py"
    if name.endswith(".sql"):
        return "pipeline-sql"
    if name.endswith((".md", ".txt", ".rst")) or name.startswith("README"):
        return "doc"
    return "data" if "/landing/" in path else "other"


def pipeline_of_path(path: str) -> tuple[PipelineId, str] | None:
    """The pipeline a storage path belongs to and the path inside it, or ``None``."""
    parts = path.split("/")
    if len(parts) >= 5 and parts[1] == "pipelines":
        try:
            pid = PipelineId.of(parts[0], parts[2], parts[3])
        except Invalid:
            return None
        return pid, "/".join(parts[4:])
    return None


class FileService(Service):
    # -- a pipeline's files -------------------------------------------------------------------------
    def draft(self, pid: PipelineId) -> dict[str, str]:
        files = {}
        for f in self.storage.list(pid.prefix):
            rel = f.path[len(pid.prefix):]
            try:
                files[rel] = self.storage.read_text(f.path)
            except Invalid:
                continue
        return files

    def published(self, pid: PipelineId, version: int | None = None) -> tuple[dict[str, str], int]:
        row = self.state.get_pipeline(*pid.table_identifier)
        number = version or row["published_version"]
        if not number:
            raise Conflict(f"pipeline {pid} has never been published; publish it or run the draft "
                           f"(version 'draft')")
        ver = self.state.get_version(row["id"], number)
        blobs = self.state.get_blobs(ver["files"].values())
        return {path: blobs[h] for path, h in ver["files"].items()}, number

    def of_version(self, pid: PipelineId, version: str | int = "published") -> tuple[dict[str, str], str]:
        """The files of ``version`` (``draft``, ``published`` or a number) and the version they are."""
        if version == "draft":
            files = self.draft(pid)
            if not any(s in files for s in SOURCE_FILES):
                raise NotFound(f"pipeline {pid} has no pipeline.sql or pipeline.py")
            return files, "draft"
        if version not in ("published", None) and not isinstance(version, int):
            raise Invalid(f"version must be 'published', 'draft' or a number, not '{version}'")
        files, number = self.published(pid, version if isinstance(version, int) else None)
        return files, str(number)

    def for_run(self, pid: PipelineId, version: str) -> dict[str, str]:
        """The files a claimed run executes: the published version it recorded, or the draft as it is now."""
        return self.of_version(pid, version if version in VERSIONS else int(version))[0]

    # -- storage by path ----------------------------------------------------------------------------
    def list(self, prefix: str, exclude: list[str] | None = None) -> list[dict[str, Any]]:
        prefix = validate_prefix(prefix)
        validate_namespace(prefix.split("/")[0])
        out = []
        for f in self.storage.list(prefix):
            if exclude and any(f"/{seg}/" in f"/{f.path}" for seg in exclude):
                continue
            d = f.to_dict()
            d["type"] = file_type(f.path)
            out.append(d)
        return out

    def read(self, path: str) -> dict[str, Any]:
        path = validate_path(path)
        info = self.storage.stat(path)
        if info is None:
            raise NotFound(f"file '{path}' not found")
        d = info.to_dict()
        d["content"] = self.storage.read_text(path)
        return d

    def read_bytes(self, path: str) -> tuple[bytes, dict[str, Any]]:
        """A file's bytes (any type: landing data, samples) and its metadata, for downloads."""
        path = validate_path(path)
        info = self.storage.stat(path)
        if info is None:
            raise NotFound(f"file '{path}' not found")
        return self.storage.read(path), info.to_dict()

    def write(self, path: str, content: str | bytes) -> dict[str, Any]:
        """Save a file. Pipeline files are validated first: an invalid one is refused and nothing is written."""
        path = validate_path(path)
        validate_namespace(path.split("/")[0])
        data = content.encode() if isinstance(content, str) else content
        if len(data) > self.settings.max_upload_bytes:
            raise TooLarge(f"file is larger than {self.settings.max_upload_bytes} bytes")
        owner = pipeline_of_path(path)
        warnings: list[str] = []
        row = None
        files: dict[str, str] = {}
        if owner:
            pid, rel = owner
            row = self.state.get_pipeline(*pid.table_identifier)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("pipeline files must be UTF-8 text") from None
            files = self.draft(pid)
            files[rel] = text
            warnings = validate_file(pid, rel, text, files)
        info = self.storage.write(path, data)
        if row is not None and owner is not None:
            self.state.update_pipeline(row["id"], draft_dirty=1)
            if owner[1] in (*SOURCE_FILES, "config.yaml"):
                self.ws.graph.record(owner[0], row["id"], files)
        out = info.to_dict()
        out.update({"status": "written", "warnings": warnings})
        return out

    def delete(self, path: str) -> None:
        path = validate_path(path)
        self.storage.delete(path)
        owner = pipeline_of_path(path)
        if owner:
            row = self.state.find_pipeline(*owner[0].table_identifier)
            if row:
                self.state.update_pipeline(row["id"], draft_dirty=1, deps=None, zones=None)
                self.ws.graph.changed()
