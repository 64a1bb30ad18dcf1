"""Object storage for pipeline code and landing files: a local directory or an S3-compatible bucket.

Both implementations pass the same test suite. Paths are validated relative keys (``ns/pipelines/…``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from ..core.errors import Invalid, NotFound
from ..core.names import validate_path, validate_prefix
from ..core.settings import S3Options


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    modified: datetime

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "modified": self.modified.isoformat()}


class Storage(ABC):
    """``list / read / write / delete / exists`` over relative, validated paths."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[FileInfo]:
        """Every file under ``prefix`` (recursively), sorted by path."""

    @abstractmethod
    def read(self, path: str) -> bytes: ...

    @abstractmethod
    def write(self, path: str, data: bytes) -> FileInfo: ...

    @abstractmethod
    def delete(self, path: str) -> None: ...

    @abstractmethod
    def stat(self, path: str) -> FileInfo | None: ...

    @abstractmethod
    def uri(self, path: str) -> str:
        """A location DuckDB can read (a local path or ``s3://…``)."""

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def read_text(self, path: str) -> str:
        try:
            return self.read(path).decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"file '{path}' is not UTF-8 text") from None

    def delete_prefix(self, prefix: str) -> int:
        files = self.list(prefix)
        for f in files:
            self.delete(f.path)
        return len(files)

    def move(self, src: str, dst: str) -> None:
        data = self.read(src)
        if validate_path(dst) == src:
            return  # moving a file onto itself must not delete it
        self.write(dst, data)
        self.delete(src)

    @staticmethod
    def _check_prefix(prefix: str) -> str:
        return validate_prefix(prefix) if prefix else ""


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, path: str) -> Path:
        full = (self.root / validate_path(path)).resolve()
        if self.root not in full.parents:
            raise Invalid("path escapes the storage root")
        return full

    def list(self, prefix: str = "") -> list[FileInfo]:
        prefix = self._check_prefix(prefix)
        base = self.root
        # walk only the folder the prefix lives in, not the whole storage root
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / folder if folder else base
        out: list[FileInfo] = []
        for dirpath, _dirs, files in os.walk(start):
            for fname in files:
                full = Path(dirpath) / fname
                rel = full.relative_to(base).as_posix()
                if rel.startswith(prefix) and not fname.startswith(".rat-tmp-"):
                    st = full.stat()
                    out.append(FileInfo(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(out, key=lambda f: f.path)

    def read(self, path: str) -> bytes:
        full = self._path(path)
        if not full.is_file():
            raise NotFound(f"file '{path}' not found")
        return full.read_bytes()

    def write(self, path: str, data: bytes) -> FileInfo:
        full = self._path(path)
        if full.is_dir():
            raise Invalid(f"'{path}' is a folder")
        try:
            full.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise Invalid(f"cannot write '{path}': a parent folder is a file") from None
        # write-then-rename: a reader never sees a half-written file
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".rat-tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = self.stat(path)
        assert info is not None
        return info

    def delete(self, path: str) -> None:
        full = self._path(path)
        if not full.is_file():
            raise NotFound(f"file '{path}' not found")
        full.unlink()
        parent = full.parent
        while parent != self.root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def delete_prefix(self, prefix: str) -> int:
        count = super().delete_prefix(prefix)
        folder = self.root / self._check_prefix(prefix).rstrip("/")
        if prefix and folder.is_dir() and self.root in folder.resolve().parents:
            shutil.rmtree(folder, ignore_errors=True)
        return count

    def stat(self, path: str) -> FileInfo | None:
        full = self._path(path)
        if not full.is_file():
            return None
        st = full.stat()
        return FileInfo(path, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def uri(self, path: str) -> str:
        return str(self.root / validate_path(path)) if path else str(self.root)


class S3Storage(Storage):
    """An S3-compatible bucket (tested against SeaweedFS). ``s3://bucket/optional/prefix``."""

    def __init__(self, url: str, options: S3Options) -> None:
        import boto3
        from botocore.config import Config

        parsed = urlparse(url)
        self.bucket = parsed.netloc
        self.base = parsed.path.strip("/")
        self.base = f"{self.base}/" if self.base else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=options.endpoint,
            aws_access_key_id=options.access_key_id,
            aws_secret_access_key=options.secret_access_key,
            region_name=options.region,
            config=Config(s3={"addressing_style": "path" if options.path_style else "auto"}),
        )
        self._missing = self.client.exceptions.NoSuchKey

    def _key(self, path: str) -> str:
        return self.base + validate_path(path)

    def list(self, prefix: str = "") -> list[FileInfo]:
        prefix = self._check_prefix(prefix)
        out: list[FileInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base + prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.base) :]
                out.append(FileInfo(rel, int(obj["Size"]), obj["LastModified"]))
        return sorted(out, key=lambda f: f.path)

    def read(self, path: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except self._missing:
            raise NotFound(f"file '{path}' not found") from None

    def write(self, path: str, data: bytes) -> FileInfo:
        self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)
        return FileInfo(path, len(data), datetime.now(UTC))

    def delete(self, path: str) -> None:
        if self.stat(path) is None:
            raise NotFound(f"file '{path}' not found")
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))

    def stat(self, path: str) -> FileInfo | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return FileInfo(path, int(head["ContentLength"]), head["LastModified"])

    def uri(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path) if path else self.base}"


def open_storage(url: str, s3: S3Options) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme == "s3":
        return S3Storage(url, s3)
    if not parsed.scheme:
        return LocalStorage(Path(url))
    raise Invalid(f"unsupported storage URL scheme '{parsed.scheme}'")
