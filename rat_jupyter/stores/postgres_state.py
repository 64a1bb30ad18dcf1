"""Platform state in PostgreSQL (psycopg 3): several servers can share one state store.

Same SQL and migrations as the SQLite store; only the connection, the placeholders and the leader lock
differ. The scheduler's leader election uses a session-level advisory lock held on its own connection, so
the lock disappears with the server (a crash frees it at once).

Presence works the same way: before a server claims its first run it takes an advisory lock named after
its claimer id (``runs.server_id``) and holds it on a dedicated connection for as long as it lives. Any other
server that can take that lock knows the claimer is gone — its process died (``kill -9``, a lost machine) and
PostgreSQL ended its session — so a watcher thread in every claiming server fails the dead claimer's running
runs and hands its claimed-but-unstarted runs back to the pool within ``PRESENCE_SECONDS``, instead of
leaving them to the reaper's stuck-run timeout. A failed run can no longer pass the publish fence, so a task
of the dead server still going somewhere (a Dask worker) publishes nothing.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import Any

from .state import SqlState, now_iso

log = logging.getLogger("rat.state")

PRESENCE_SECONDS = 2.0  # how often a claiming server looks for claimers whose presence lock is free
PRESENCE_CLASS = 0x52415453  # first key of the two-key advisory locks that mark a live claimer ("RATS")
DEAD_SERVER_ERROR = "the server running it stopped (its session with the state store ended); main was not changed"


class PostgresState(SqlState):
    placeholder = "%s"
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the postgres extra is not installed
            raise RuntimeError("the PostgreSQL state store needs psycopg: pip install 'rat-jupyter[postgres]'") from exc
        self._psycopg = psycopg
        super().__init__()
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._leader_conns: dict[str, Any] = {}
        self._leader_tries: dict[str, Any] = {}  # a follower's connection for its next try (it tries every 2 s)
        self._leader_lock = threading.Lock()
        self._presence: dict[str, Any] = {}  # claimer id -> the connection holding its presence lock
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()
        self.migrate()

    def _connect(self) -> Any:
        return self._psycopg.connect(self.url, autocommit=False)

    def _is_unique_violation(self, exc: Exception) -> bool:
        return isinstance(exc, self._psycopg.errors.UniqueViolation)

    def _migration_guard(self, cur: Any) -> None:
        # Two servers starting together must not migrate at the same time (released at commit).
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_key("rat:migrate"),))

    def _submit_guard(self, cur: Any) -> None:
        # Check-then-insert of runs must not interleave between servers (released at commit).
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_key("rat:submit"),))

    def acquire_leader(self, name: str) -> bool:
        """Hold ``pg_try_advisory_lock`` on a dedicated connection; True while this server leads.

        A holder asks its connection whether its session is still alive (one ``SELECT 1``): a session the
        database ended (a restart, a network cut, ``pg_terminate_backend``) took the lock with it, and another
        server may lead by now, so this one tries the lock again rather than answering from memory."""
        with self._leader_lock:
            conn = self._leader_conns.get(name)
            if conn is not None:
                try:
                    conn.execute("SELECT 1")
                    return True
                except self._psycopg.Error:
                    del self._leader_conns[name]
                    conn.close()
            conn = self._leader_tries.pop(name, None)
            if conn is None or conn.closed:
                conn = self._psycopg.connect(self.url, autocommit=True)
            try:
                got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_key(f"rat:leader:{name}"),)).fetchone()[0]
            except self._psycopg.Error:
                conn.close()
                return False
            if got:
                self._leader_conns[name] = conn
                return True
            self._leader_tries[name] = conn
            return False

    def release_leader(self, name: str) -> None:
        with self._leader_lock:
            conn = self._leader_conns.pop(name, None)
            if conn is not None and not conn.closed:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_key(f"rat:leader:{name}"),))
                except self._psycopg.Error:
                    pass  # the session already ended, and its lock with it
                conn.close()

    # -- presence: who is alive among the servers sharing this store ------------------------------
    def claim_run(self, run_id: str, server_id: str, owner: str) -> bool:
        """Claim as the base store does, once this claimer holds its presence lock (so a claimed run's
        ``server_id`` always names a claimer other servers can check)."""
        self.hold_presence(server_id)
        return super().claim_run(run_id, server_id, owner)

    def hold_presence(self, server_id: str) -> None:
        """Take (or re-take, after a lost connection) the presence lock of ``server_id`` and start the
        watcher that reaps claimers which lost theirs."""
        with self._leader_lock:
            conn = self._presence.get(server_id)
            if conn is not None and not conn.closed and not conn.broken:
                return
            conn = self._psycopg.connect(self.url, autocommit=True)
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (PRESENCE_CLASS, _key(server_id))).fetchone()[0]
            if not got:  # claimer ids are unique per process: only a hash collision gets here
                conn.close()
                raise RuntimeError(f"the presence lock of {server_id} is held by another session")
            self._presence[server_id] = conn
        self._start_watcher()

    def claimable_runs(self, limit: int = 1000, after: tuple[str, str] | None = None) -> list[dict]:
        """As the base store; the first call (only claiming servers make it) starts the presence watcher, so a
        server that has not claimed anything yet still reaps the runs of a server that died."""
        self._start_watcher()
        return super().claimable_runs(limit, after)

    def _start_watcher(self) -> None:
        with self._leader_lock:
            if self._watcher is None and not self._stop_watching.is_set():
                self._watcher = threading.Thread(target=self._watch, name="rat-presence", daemon=True)
                self._watcher.start()

    def is_present(self, server_id: str) -> bool:
        """True while a session (this one or another server's) holds the presence lock of ``server_id``.

        A definitive answer for one claimer (taking the lock proves its holder's session is over, even one
        that ended a moment ago), on a connection of its own; the watcher's rounds use
        :meth:`_held_presence_locks` instead."""
        if server_id in self._presence:
            return True
        with self._psycopg.connect(self.url, autocommit=True) as conn:
            key = (PRESENCE_CLASS, _key(server_id))
            free = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]
            if free:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            return not free

    def _held_presence_locks(self) -> set[int]:
        """The presence locks some session holds now, read from ``pg_locks`` on this thread's connection: one
        query per watcher round whatever the number of claimers, no connection opened per claimer. A session
        that is ending may still show its lock for a few milliseconds; the next round, ``PRESENCE_SECONDS``
        later, sees it gone. A two-key advisory lock shows as ``classid`` = first key, ``objid`` = second key
        (as an unsigned 32-bit oid), ``objsubid`` = 2."""
        rows = self.query("SELECT objid::bigint AS objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                          " AND objsubid = 2 AND classid::bigint = ?"
                          " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                          (PRESENCE_CLASS,))
        return {int(r["objid"]) for r in rows}

    def reap_dead_claimers(self) -> int:
        """Fail the running runs of every claimer that is gone and release its unstarted ones; how many runs
        changed. Compare-and-set updates, so servers reaping at the same time change each run once."""
        rows = self.query("SELECT DISTINCT server_id FROM runs WHERE status IN ('pending', 'running')"
                          " AND server_id IS NOT NULL")
        changed = 0
        held = self._held_presence_locks() if rows else set()
        for server_id in (r["server_id"] for r in rows):
            if server_id in self._presence or _lock_objid(server_id) in held:
                continue
            log.warning("claimer %s is gone: failing its running runs, releasing its pending ones", server_id)
            changed += self.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, error = ?"
                " WHERE server_id = ? AND status = 'running' AND publishing_at IS NULL",
                (now_iso(), DEAD_SERVER_ERROR, server_id))
            # A claimed run that never started: another server may execute it (the dead one cannot publish:
            # the publish fence checks server_id).
            changed += self.execute(
                "UPDATE runs SET server_id = NULL, owner = NULL, claimed_at = NULL"
                " WHERE server_id = ? AND status = 'pending'", (server_id,))
        return changed

    def _watch(self) -> None:
        while not self._stop_watching.wait(PRESENCE_SECONDS):
            try:
                self.reap_dead_claimers()
            except Exception:  # the database may be restarting; the next round retries
                log.debug("presence check failed", exc_info=True)
                SqlState.close(self)  # a fresh connection next round
        SqlState.close(self)  # this thread's own state connection

    def close(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=10)
        with self._leader_lock:
            for conn in self._presence.values():
                if not conn.closed:
                    conn.close()
            self._presence.clear()
            for conn in self._leader_tries.values():
                if not conn.closed:
                    conn.close()
            self._leader_tries.clear()
        for name in list(self._leader_conns):
            self.release_leader(name)
        super().close()


def _key(text: str) -> int:
    """A stable advisory-lock key for a name: a signed 32-bit value, so it serves as the single (bigint) key
    of a lock and as the second (integer) key of a two-key lock alike."""
    return zlib.crc32(text.encode()) - 2**31


def _lock_objid(server_id: str) -> int:
    """How ``pg_locks.objid`` shows the second key of ``server_id``'s presence lock (an unsigned oid)."""
    return _key(server_id) & 0xFFFFFFFF
