"""The landing files a run reads: pinned when the template resolves ``landing_zone()``, archived only if read.

A glob over a landing folder is evaluated by DuckDB whenever it opens the files, so files uploaded while a
run is executing would be read without being recorded — and archiving "every file of the zone" afterwards
moved files no run had read. Instead, when a run resolves ``landing_zone(zone, pattern)``, the matching
files are listed once and pinned into a hidden per-run area (a hard link locally, a server-side copy on S3)
and the template gets that folder. The run reads exactly the pinned files, records them (name, size, etag),
and with ``archive_landing_zones`` moves exactly those to ``_processed/<run_id>/`` — and only if the zone
still holds the version it read. Files uploaded meanwhile stay in the zone for the next run.

On S3 a pin is two requests and an archive three, per file: done one after another, a run's time grew with
the files it read, and the files uploaded during a run were the next run's work, so under steady uploads
each run took longer than the last. The requests of a run's files go out concurrently instead
(:data:`CONCURRENCY` at a time); local pins are hard links and stay in order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import NotFound

# S3 requests in flight per run for pins and archives (below botocore's default pool of 10 connections).
CONCURRENCY = 8

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class PinnedFile:
    namespace: str
    zone: str
    name: str
    path: str
    size: int
    etag: str


class LandingPins:
    """Per-run pins. ``resolve`` is the run's ``landing_zone()``; ``archive`` and ``release`` end it."""

    def __init__(self, storage: Any, run_id: str, *, copy: bool = True) -> None:
        self.storage = storage
        self.key = f"run-{run_id}"
        self.run_id = run_id
        # Without pinning (S3 runs that do not archive: a server-side copy per run is not free) the run
        # reads the zone's folder; single-PUT uploads are still never partial there.
        self.copy = copy
        self.files: dict[str, PinnedFile] = {}
        self.archived: set[str] = set()

    def resolve(self, ns: str, zone: str, pattern: str) -> str:
        prefix = f"{ns}/landing/{zone}/"
        if not self.copy:
            for f in self.storage.list(prefix):
                rest = f.path[len(prefix):]
                if "/" not in rest and fnmatch.fnmatchcase(rest, pattern):
                    self.files.setdefault(f.path, PinnedFile(ns, zone, rest, f.path, f.size, f.etag))
            return self.storage.uri(prefix.rstrip("/")) + "/" + pattern
        todo = []
        for f in self.storage.list(prefix):
            rest = f.path[len(prefix):]
            if "/" in rest or f.path in self.files or not fnmatch.fnmatchcase(rest, pattern):
                continue  # _samples/, _processed/; or already pinned by an earlier landing_zone() call
            todo.append((f.path, rest))

        def pin(item: tuple[str, str]) -> PinnedFile | None:
            path, rest = item
            try:
                info = self.storage.pin(path, self.key)
            except NotFound:
                return None  # deleted since the listing: not part of this run
            return PinnedFile(ns, zone, rest, path, info.size, info.etag)

        for pinned in self._each(pin, todo):
            if pinned is not None:
                self.files[pinned.path] = pinned
        return self.storage.pinned_uri(self.key, prefix.rstrip("/")) + "/" + pattern

    def record(self) -> list[dict[str, Any]]:
        """What the run read (stored with the run), and whether archiving moved it."""
        return [{"zone": f"{f.namespace}.{f.zone}", "file": f.name, "path": f.path, "size": f.size,
                 "etag": f.etag, "archived": f.path in self.archived}
                for f in sorted(self.files.values(), key=lambda p: p.path)]

    def zones(self) -> list[tuple[str, str]]:
        return sorted({(f.namespace, f.zone) for f in self.files.values()})

    def archive(self, zones: list[tuple[str, str]], log: Any) -> list[tuple[str, str]]:
        """Move the pinned files of ``zones`` to ``_processed/<run_id>/``; leave everything else alone."""
        done: list[tuple[str, str]] = []
        for ns, zone in zones:
            prefix = f"{ns}/landing/{zone}/"
            files = [f for f in self.files.values() if (f.namespace, f.zone) == (ns, zone)]

            def move(f: PinnedFile, prefix: str = prefix) -> bool:
                dst = f"{prefix}_processed/{self.run_id}/{f.name}"
                if self.copy:
                    return bool(self.storage.archive_pinned(self.key, f.path, dst, f.etag))
                return self._archive_unpinned(f, dst)

            moved = kept = 0
            for f, removed in zip(files, self._each(move, files), strict=True):
                if removed:
                    self.archived.add(f.path)
                    moved += 1
                else:
                    kept += 1
            done.append((ns, zone))
            note = f" ({kept} replaced meanwhile, left in the zone)" if kept else ""
            log("info", f"Archived {moved} file(s) of landing zone {ns}.{zone} to _processed/{self.run_id}/{note}")
        return done

    def _archive_unpinned(self, f: PinnedFile, dst: str) -> bool:
        current = self.storage.stat(f.path)
        if current is None or current.etag != f.etag:
            return False
        try:
            self.storage.move(f.path, dst)
        except NotFound:
            return False
        return True

    def _each(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        """``fn`` of each item, in order: concurrently when each call is a round trip to object storage."""
        items = list(items)
        if self.storage.cheap_pins or len(items) < 2:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(items)),
                                thread_name_prefix="rat-landing") as pool:
            return list(pool.map(fn, items))

    def release(self) -> None:
        if self.copy and self.files:
            self.storage.unpin(self.key)
