"""Which workspace a front door (``%rat``, the RAT SQL kernel, the demo, a script) gets: client or local mode.

- **client mode** — a RAT server owns this data: the process is a kernel the server started (the server put
  ``RAT_SERVER`` in its environment) or a script next to a running server (the server holds the embedded
  data directory's lock, :mod:`rat_jupyter.stores.lock`). Runs are submitted as ``pending`` rows that the
  server claims and executes; logs and status are followed in the state store; a cancel is a state change
  the server acts on. Previews and tests run in this process (:mod:`.inprocess`). No worker process is
  started, and triggers, ``pipeline_success`` and landing hooks fire in the server like for any other run.
- **local mode** — no server: a script, CI, or plain IPython. The process executes its own runs on its own
  worker processes, and says so once (:data:`LOCAL_NOTICE`). On the embedded store it holds the data
  directory's lock while it is open, so a server started meanwhile refuses instead of sharing.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.settings import CLIENT_EXECUTOR, DEFAULT_EXECUTOR, ENV_SERVER, Settings
from ..stores.lock import DataDirInUse, ServerLock, holder, sqlite_folder

if TYPE_CHECKING:
    from ..core.workspace import Workspace

LOCAL_NOTICE = "RAT: no Jupyter server found — running pipelines locally in this process (local mode)"


def client_notice(server: dict[str, Any]) -> str:
    where = server.get("url") or f"pid {server.get('pid', '?')}"
    return f"RAT: the RAT server at {where} owns this data — runs are submitted to it (client mode)"


@dataclass
class FrontDoor:
    """An open workspace and the mode it was opened in. ``close`` releases the data-dir lock of local mode."""

    workspace: Workspace
    mode: str  # "client" or "local"
    server: dict[str, Any] | None = None  # the server a client submits to (what it said about itself)
    notice: str = ""
    _lock: ServerLock | None = field(default=None, repr=False)

    @property
    def client(self) -> bool:
        return self.mode == "client"

    def close(self) -> None:
        try:
            self.workspace.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def find_server(settings: Settings) -> dict[str, Any] | None:
    """The RAT server that owns ``settings``' data, if one is running: from the environment it gave this
    process, else from the lock it holds on the embedded data directory."""
    text = os.environ.get(ENV_SERVER)
    if text:
        try:
            info = json.loads(text)
        except json.JSONDecodeError:
            info = None
        if isinstance(info, dict) and info.get("pid") != os.getpid():
            return info
    folder = sqlite_folder(settings.resolved_state_url)
    if folder is not None:
        info = holder(folder)
        if info is not None and info.get("pid") != os.getpid():
            return info
    return None


def open_workspace(settings: Settings | None = None, *,
                   announce: Callable[[str], None] | None = None) -> FrontDoor:
    """Open the workspace a front door should use: a client of the running server, or local mode.

    ``announce`` receives the one-line notice of local mode (and of client mode found through the lock file,
    which a user may not expect); default: printed to stderr.
    """
    from ..core.workspace import Workspace

    settings = settings if settings is not None else Settings.from_env()
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    server = find_server(settings)
    lock: ServerLock | None = None
    if server is None:
        folder = sqlite_folder(settings.resolved_state_url)
        if folder is not None:
            lock = ServerLock(folder)
            try:
                lock.acquire({"pid": os.getpid(), "host": socket.gethostname(), "url": "", "mode": "local",
                              "command": " ".join(sys.argv)[:200],
                              "started_at": datetime.now(UTC).isoformat(timespec="seconds")})
            except DataDirInUse as exc:  # a server started a moment ago
                lock, server = None, exc.holder
    if server is not None:
        ws = Workspace.open(settings.with_(executor_class=CLIENT_EXECUTOR), server=False)
        door = FrontDoor(ws, "client", server)
        if not os.environ.get(ENV_SERVER):
            door.notice = client_notice(server)
            say(door.notice)
        return door
    # Local mode executes runs as its own "server", under a name of its own: its start-up recovery must never
    # touch the runs of a real server that shares the state store (PostgreSQL) under the host name.
    local = settings.with_(server_id=f"{settings.resolved_server_id}:local:{os.getpid()}")
    if local.executor_class == CLIENT_EXECUTOR:  # a server's kernel settings, but that server is gone
        local = local.with_(executor_class=DEFAULT_EXECUTOR)
    try:
        ws = Workspace.open(local, server=True)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    say(LOCAL_NOTICE)
    return FrontDoor(ws, "local", None, LOCAL_NOTICE, lock)
