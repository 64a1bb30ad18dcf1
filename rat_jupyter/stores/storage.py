"""Object storage for pipeline code and landing files: a local directory or an S3-compatible bucket.

Both implementations pass the same test suite. Paths are validated relative keys (``ns/pipelines/…``).

Writes are atomic for readers that glob a folder (DuckDB reading ``landing/zone/*``): a local write goes to
a temporary file under the root's hidden ``.rat-tmp/`` area, which no landing pattern can match, and is then
renamed into place; an S3 write is a single PUT, which becomes visible only when complete. Runs pin the
files they read into the hidden ``.rat-runs/`` area (see :mod:`rat_jupyter.core.landing`). Both hidden areas
are never listed and cannot be addressed through the public path API.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from ..common.errors import Conflict, Invalid, NotFound
from ..common.names import validate_path, validate_prefix
from ..common.settings import S3Options

# Hidden areas at the storage root: temporary upload files, and the files each run pinned.
TMP_AREA = ".rat-tmp"
RUNS_AREA = ".rat-runs"
RESERVED = (TMP_AREA, RUNS_AREA)
MAX_SEGMENT_BYTES = 255  # NAME_MAX of every common filesystem; S3 keys are limited to 1024 bytes overall


def checked_path(path: str) -> str:
    """Validate a public storage path: no hidden areas, every segment within filesystem limits, valid UTF-8.

    A name the filesystem cannot hold must be a 400 here, not an ``OSError`` (a 500) at write time.
    """
    path = validate_path(path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("path must be valid UTF-8 (no lone surrogates)") from None
    segments = path.split("/")
    if segments[0] in RESERVED:
        raise Invalid(f"'{segments[0]}' is reserved")
    for seg in segments:
        if len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise Invalid(f"name too long: a file or folder name is at most {MAX_SEGMENT_BYTES} bytes "
                          f"({len(seg.encode('utf-8'))} given)")
    return path


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    modified: datetime
    # Identity of this version of the file: the S3 ETag, or device/inode/size/mtime locally. Lets a run
    # archive a file only if it is still the version it read.
    etag: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "modified": self.modified.isoformat()}


class Storage(ABC):
    """``list / read / write / delete / exists`` over relative, validated paths."""

    @abstractmethod
    def list(self, prefix: str = "", *, recursive: bool = True) -> list[FileInfo]:
        """Every file under ``prefix``, sorted by path; with ``recursive=False`` only those directly in the
        folder the prefix ends in (one S3 request per thousand files there, whatever the subfolders hold)."""

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

    @abstractmethod
    def pin(self, path: str, key: str) -> FileInfo:
        """Make a private copy of ``path`` under the hidden run area ``key`` (what a run will read).

        Returns the *source* version's info (with its etag). Raises :class:`NotFound` if it vanished."""

    @abstractmethod
    def pinned_uri(self, key: str, rel: str = "") -> str:
        """Where DuckDB reads the files pinned under ``key`` (``rel`` a sub-folder)."""

    @abstractmethod
    def archive_pinned(self, key: str, path: str, dst: str, etag: str) -> bool:
        """Move the pinned copy of ``path`` to ``dst``; remove ``path`` only if it is still version ``etag``.

        Returns whether the original was removed (False: it was replaced or deleted meanwhile)."""

    @abstractmethod
    def unpin(self, key: str) -> None:
        """Drop everything pinned under ``key`` (the originals are untouched)."""

    @abstractmethod
    def pin_areas(self) -> dict[str, datetime]:
        """Every pin area present (what runs pinned and have not released yet): key → last pinned into."""

    def sweep_tmp(self, older_than: datetime) -> int:
        """Remove temporary upload files last written before ``older_than`` (left by a killed writer).

        Only local storage has a temporary area: an S3 write is a single PUT."""
        return 0

    @property
    def cheap_pins(self) -> bool:
        """Whether pinning costs no data copy (local hard links); S3 pins are server-side copies."""
        return False

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

    @property
    def cheap_pins(self) -> bool:
        return True

    def _path(self, path: str) -> Path:
        full = (self.root / checked_path(path)).resolve()
        if self.root not in full.parents:
            raise Invalid("path escapes the storage root")
        return full

    def _tmp(self) -> tuple[int, str]:
        """A temporary file outside every visible folder, on the same filesystem (so the rename is atomic)."""
        area = self.root / TMP_AREA
        for _ in range(5):
            try:
                area.mkdir(exist_ok=True)
                return tempfile.mkstemp(dir=area, prefix="w-")
            except (FileNotFoundError, FileExistsError):
                # tidied away by a concurrent delete (also between mkdir's "exists" and its is-a-folder check,
                # which Path.mkdir reports as FileExistsError): make it again
                continue
        raise Conflict("cannot create a temporary file (concurrent clean-up)")

    def _tidy_root(self) -> None:
        """An emptied storage leaves no hidden areas behind."""
        for area in RESERVED:
            try:
                (self.root / area).rmdir()
            except OSError:
                pass

    def list(self, prefix: str = "", *, recursive: bool = True) -> list[FileInfo]:
        prefix = self._check_prefix(prefix)
        base = self.root
        # walk only the folder the prefix lives in, not the whole storage root
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / folder if folder else base
        out: list[FileInfo] = []
        for dirpath, dirs, files in os.walk(start):
            if Path(dirpath) == base or not recursive:
                dirs[:] = [d for d in dirs if d not in RESERVED] if recursive else []
            for fname in files:
                full = Path(dirpath) / fname
                rel = full.relative_to(base).as_posix()
                if rel.startswith(prefix) and not fname.startswith(".rat-tmp-"):
                    try:
                        st = full.stat()
                    except FileNotFoundError:
                        continue  # deleted while listing: it is simply not there
                    out.append(_local_info(rel, st))
        return sorted(out, key=lambda f: f.path)

    def read(self, path: str) -> bytes:
        full = self._path(path)
        try:
            return full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"file '{path}' not found") from None

    def write(self, path: str, data: bytes) -> FileInfo:
        full = self._path(path)
        if full.is_dir():
            raise Invalid(f"'{path}' is a folder")
        # write-then-rename from the hidden area: a reader (or a glob) never sees a half-written file
        fd, tmp = self._tmp()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._place(tmp, full, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:
            return _local_info(path, full.stat())
        except FileNotFoundError:  # deleted right after it was written: report what was written
            return FileInfo(path, len(data), datetime.now(UTC))

    def _place(self, tmp: str, full: Path, path: str) -> None:
        # A concurrent delete removes empty parent folders; recreate them and retry the rename.
        for _ in range(5):
            try:
                full.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError, FileNotFoundError):
                if self._file_in_the_way(full.parent):
                    raise Invalid(f"cannot write '{path}': a parent folder is a file") from None
                continue  # a concurrent delete removed a folder while it was being made: again
            try:
                os.replace(tmp, full)
                return
            except FileNotFoundError:
                if not os.path.lexists(tmp):
                    raise  # the source is gone (a move of a file deleted meanwhile)
                continue
            except (IsADirectoryError, NotADirectoryError):
                raise Invalid(f"'{path}' is a folder") from None
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    raise Invalid(f"cannot write '{path}': name too long") from None
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise Invalid(f"'{path}' is a folder") from None
                raise
        raise Conflict(f"cannot write '{path}': its folder keeps disappearing (concurrent delete)")

    def _file_in_the_way(self, folder: Path) -> bool:
        while folder != self.root and self.root in folder.parents:
            if folder.is_file():
                return True
            folder = folder.parent
        return False

    def delete(self, path: str) -> None:
        full = self._path(path)
        try:
            if full.is_dir():
                raise NotFound(f"file '{path}' not found")
            full.unlink()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"file '{path}' not found") from None
        self._prune(full.parent)

    def _prune(self, parent: Path) -> None:
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()  # fails unless empty: a concurrent write keeps its folder
            except OSError:
                return
            parent = parent.parent
        if parent == self.root:
            self._tidy_root()

    def delete_prefix(self, prefix: str) -> int:
        count = super().delete_prefix(prefix)
        folder = self.root / self._check_prefix(prefix).rstrip("/")
        if prefix and folder.is_dir() and self.root in folder.resolve().parents:
            shutil.rmtree(folder, ignore_errors=True)
        return count

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if source == target:
            return  # moving a file onto itself must not delete it
        if not source.is_file():
            raise NotFound(f"file '{src}' not found")
        if target.is_dir():
            raise Invalid(f"'{dst}' is a folder")
        try:
            self._place(str(source), target, dst)  # one rename: never half moved
        except FileNotFoundError:
            raise NotFound(f"file '{src}' not found") from None
        self._prune(source.parent)

    def stat(self, path: str) -> FileInfo | None:
        full = self._path(path)
        try:
            st = full.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not full.is_file():
            return None
        return _local_info(path, st)

    def uri(self, path: str) -> str:
        return str(self.root / validate_path(path)) if path else str(self.root)

    # -- pins ---------------------------------------------------------------------------------------
    def _pin_dir(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise Invalid("invalid pin key")
        return self.root / RUNS_AREA / key

    def pin(self, path: str, key: str) -> FileInfo:
        source = self._path(path)
        target = self._pin_dir(key) / validate_path(path)
        for attempt in range(5):  # the same race with a concurrent tidy-up as in _tmp
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                break
            except FileExistsError:
                if attempt == 4:
                    raise Conflict(f"cannot pin '{path}' (concurrent clean-up)") from None
        target.unlink(missing_ok=True)
        try:
            try:
                os.link(source, target)  # same inode: no copy, and a later replace of the original leaves it
                st = target.stat()  # the version linked, even if the original was replaced just before
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                    raise
                st = source.stat()
                shutil.copy2(source, target)
        except FileNotFoundError:
            raise NotFound(f"file '{path}' not found") from None
        return _local_info(path, st)

    def pinned_uri(self, key: str, rel: str = "") -> str:
        folder = self._pin_dir(key)
        return str(folder / validate_path(rel)) if rel else str(folder)

    def archive_pinned(self, key: str, path: str, dst: str, etag: str) -> bool:
        pinned = self._pin_dir(key) / validate_path(path)
        target = self._path(dst)
        self._place(str(pinned), target, dst)
        original = self._path(path)
        # Take the original out of the zone with one rename, then check it is the version that was read;
        # a newer upload of the same name goes back (unless an even newer one took its place).
        fd, claim = self._tmp()
        os.close(fd)
        try:
            os.replace(original, claim)
        except FileNotFoundError:
            Path(claim).unlink(missing_ok=True)
            return False
        if _local_info(path, os.stat(claim)).etag == etag:
            Path(claim).unlink()
            self._prune(original.parent)
            return True
        try:
            os.link(claim, original)
        except FileExistsError:
            pass  # replaced again meanwhile: the newest version wins, as for any overwrite
        Path(claim).unlink(missing_ok=True)
        return False

    def unpin(self, key: str) -> None:
        shutil.rmtree(self._pin_dir(key), ignore_errors=True)
        self._tidy_root()

    def pin_areas(self) -> dict[str, datetime]:
        out: dict[str, datetime] = {}
        try:
            keys = [e for e in os.scandir(self.root / RUNS_AREA) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return out
        for key in keys:
            newest = 0.0
            for folder, _dirs, files in os.walk(key.path):
                for name in [".", *files]:  # a hard link keeps the source's mtime: use the link's ctime
                    try:
                        newest = max(newest, os.lstat(os.path.join(folder, name)).st_ctime)
                    except FileNotFoundError:
                        continue
            out[key.name] = datetime.fromtimestamp(newest, UTC)
        return out

    def sweep_tmp(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        count = 0
        try:
            entries = list(os.scandir(self.root / TMP_AREA))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    count += 1
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
        self._tidy_root()
        return count


def _local_info(path: str, st: os.stat_result) -> FileInfo:
    return FileInfo(path, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC),
                    f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")


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
        return self.base + checked_path(path)

    def _pin_key(self, key: str, rel: str = "") -> str:
        if not key or "/" in key or key.startswith("."):
            raise Invalid("invalid pin key")
        return f"{self.base}{RUNS_AREA}/{key}/" + (validate_path(rel) if rel else "")

    def list(self, prefix: str = "", *, recursive: bool = True) -> list[FileInfo]:
        prefix = self._check_prefix(prefix)
        out: list[FileInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        # with a delimiter, S3 rolls whatever lies below the next "/" into CommonPrefixes, which are not files
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.base + prefix,
                                   **({} if recursive else {"Delimiter": "/"}))
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.base) :]
                if rel.split("/", 1)[0] in RESERVED:
                    continue
                out.append(FileInfo(rel, int(obj["Size"]), obj["LastModified"], _etag(obj.get("ETag"))))
        return sorted(out, key=lambda f: f.path)

    def read(self, path: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except self._missing:
            raise NotFound(f"file '{path}' not found") from None

    def write(self, path: str, data: bytes) -> FileInfo:
        # One PUT: the object appears only once complete, so a listing never sees a partial upload.
        put = self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)
        return FileInfo(path, len(data), datetime.now(UTC), _etag(put.get("ETag")))

    def move(self, src: str, dst: str) -> None:
        if validate_path(dst) == validate_path(src):
            return
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                    CopySource={"Bucket": self.bucket, "Key": self._key(src)})
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise NotFound(f"file '{src}' not found") from None
            raise
        self.client.delete_object(Bucket=self.bucket, Key=self._key(src))

    def delete(self, path: str) -> None:
        if self.stat(path) is None:
            raise NotFound(f"file '{path}' not found")
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))

    def stat(self, path: str) -> FileInfo | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return FileInfo(path, int(head["ContentLength"]), head["LastModified"], _etag(head.get("ETag")))

    def uri(self, path: str) -> str:
        return f"s3://{self.bucket}/{self.base + validate_path(path) if path else self.base}"

    # -- pins (server-side copies) ------------------------------------------------------------------
    def pin(self, path: str, key: str) -> FileInfo:
        try:
            res = self.client.copy_object(Bucket=self.bucket, Key=self._pin_key(key, path),
                                          CopySource={"Bucket": self.bucket, "Key": self._key(path)})
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise NotFound(f"file '{path}' not found") from None
            raise
        head = self.client.head_object(Bucket=self.bucket, Key=self._pin_key(key, path))
        etag = _etag(res.get("CopyObjectResult", {}).get("ETag") or head.get("ETag"))
        return FileInfo(path, int(head["ContentLength"]), head["LastModified"], etag)

    def pinned_uri(self, key: str, rel: str = "") -> str:
        return f"s3://{self.bucket}/{self._pin_key(key, rel)}".rstrip("/")

    def archive_pinned(self, key: str, path: str, dst: str, etag: str) -> bool:
        self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                CopySource={"Bucket": self.bucket, "Key": self._pin_key(key, path)})
        current = self.stat(path)
        if current is None or current.etag != etag:
            return False  # replaced by a newer upload of the same name (or deleted): leave it
        # S3 has no conditional delete here: a same-name upload in the gap between HEAD and DELETE would be
        # lost. Uploads carry a per-second timestamp prefix, so that needs two same-name uploads in a second.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(path))
        return True

    def unpin(self, key: str) -> None:
        # One DeleteObjects request per listed page (up to 1,000 keys), not one DELETE per pinned file: a run
        # that read a thousand files ends in two requests instead of a thousand.
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._pin_key(key)):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if not keys:
                continue
            # Keys it could not delete (reported in the answer's Errors) stay behind in a pin area that the
            # reaper removes once it is stale (pin_areas), as after a worker that died mid-run.
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def pin_areas(self) -> dict[str, datetime]:
        area = f"{self.base}{RUNS_AREA}/"
        out: dict[str, datetime] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=area):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(area):].split("/", 1)[0]
                out[key] = max(out.get(key, obj["LastModified"]), obj["LastModified"])
        return out


def _etag(value: object) -> str:
    """ETags compare without their quotes (HEAD and LIST quote them, some copy results do not)."""
    return str(value or "").strip('"')


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def open_storage(url: str, s3: S3Options) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme == "s3":
        return S3Storage(url, s3)
    if not parsed.scheme:
        return LocalStorage(Path(url))
    raise Invalid(f"unsupported storage URL scheme '{parsed.scheme}'")
