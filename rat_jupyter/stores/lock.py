"""Inter-process locks on the embedded data directory, held with ``fcntl.flock``.

Two locks, for two different reasons:

- the **initialisation lock** (``.rat-init.lock``) serialises creating the SQLite catalog and state store.
  SQLite cannot switch a fresh file to WAL while another connection writes it ("database is locked"), and
  pyiceberg's SQL catalog creates its tables with check-then-create ("table iceberg_tables already exists"),
  so two processes opening a fresh data directory at once fail without it. It is held only for the few
  milliseconds that creating (or checking) the schema takes.
- the **server lock** (``server.lock``) is held for a server's whole life: the embedded default (SQLite
  state, local files) belongs to one server, because the server that owns a run is the only one that acts on
  it. The file names the holder (pid, host, URL, start time), so a second server can say which one is there.

``flock`` locks belong to an open file and vanish when the process dies (even on ``SIGKILL``), so a crashed
server never leaves a stale lock behind; the file is opened non-inheritable, so worker processes and kernels
started by the holder never keep it alive.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

INIT_LOCK = ".rat-init.lock"
SERVER_LOCK = "server.lock"

_guard = threading.Lock()
_init: dict[str, tuple[threading.RLock, list[int]]] = {}  # lock path -> (thread lock, [fd, depth])


class DataDirInUse(RuntimeError):
    """Another live server holds the data directory; ``holder`` is what it wrote about itself."""

    def __init__(self, data_dir: Path, holder: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.holder = holder
        super().__init__(f"the data directory {data_dir} is in use by another RAT server ({describe(holder)}); "
                         "stop it, or give this server its own --RatApp.data_dir (sharing one state store "
                         "between servers is the PostgreSQL profile's job: --RatApp.state_url=postgresql://…)")


def describe(holder: dict[str, Any]) -> str:
    """``pid 123 on host, http://127.0.0.1:8888/, started 2026-…`` — whatever the holder recorded."""
    parts = [f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"]
    if holder.get("url"):
        parts.append(str(holder["url"]))
    if holder.get("started_at"):
        parts.append(f"started {holder['started_at']}")
    return ", ".join(parts)


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextmanager
def init_lock(folder: Path, timeout: float = 120.0) -> Iterator[None]:
    """Hold the initialisation lock of ``folder``. Re-entrant within a process (threads queue on it).

    Re-entrant because ``Workspace.open`` holds it around the state store and catalog, which take it
    themselves when opened alone; a second ``flock`` on a new descriptor of the same file would wait forever.
    """
    path = str(Path(folder).resolve() / INIT_LOCK)
    with _guard:
        entry = _init.setdefault(path, (threading.RLock(), [-1, 0]))
    rlock, held = entry
    if not rlock.acquire(timeout=timeout):
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the initialisation lock {path}")
    try:
        if held[1] == 0:
            fd = _open(Path(path))
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        os.close(fd)
                        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the initialisation "
                                           f"lock {path}") from None
                    time.sleep(0.005)
            held[0] = fd
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
            if held[1] == 0:
                fd, held[0] = held[0], -1
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        rlock.release()


def sqlite_folder(url: str) -> Path | None:
    """The folder of a ``sqlite:///path`` URL (where its initialisation lock lives), else ``None``."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):]).expanduser().resolve().parent


class ServerLock:
    """The lock a server holds on its embedded data directory for as long as it runs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / SERVER_LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock and record ``info``, or raise :class:`DataDirInUse` naming the holder."""
        if self._fd is not None:
            return
        fd = _open(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(self.data_dir, holder(self.data_dir) or {}) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def update(self, info: dict[str, Any]) -> None:
        """Rewrite what the file says about the holder (the URL is known only once the server listens)."""
        if self._fd is None:
            return
        data = (json.dumps(info) + "\n").encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def holder(data_dir: Path) -> dict[str, Any] | None:
    """What the live server holding ``data_dir`` recorded about itself, or ``None`` if no server holds it.

    The file of a server that died is still there but its lock is gone: that is reported as ``None``.
    """
    path = Path(data_dir) / SERVER_LOCK
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        for _ in range(50):  # the holder may be between taking the lock and writing its details
            text = os.pread(fd, 65536, 0).decode(errors="replace").strip()
            if text:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    data = None
                if isinstance(data, dict):
                    return data
            time.sleep(0.01)
        return {}
    finally:
        os.close(fd)
