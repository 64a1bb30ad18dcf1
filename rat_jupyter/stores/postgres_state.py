"""Platform state in PostgreSQL (psycopg 3): several servers can share one state store.

Same SQL and migrations as the SQLite store; only the connection, the placeholders and the leader lock
differ. The scheduler's leader election uses a session-level advisory lock held on its own connection, so
the lock disappears with the server (a crash frees it at once).
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

from .state import SqlState


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
        self._leader_lock = threading.Lock()
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
        """Hold ``pg_try_advisory_lock`` on a dedicated connection; True while this server leads."""
        with self._leader_lock:
            conn = self._leader_conns.get(name)
            if conn is not None and not conn.closed:
                return True
            conn = self._psycopg.connect(self.url, autocommit=True)
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_key(f"rat:leader:{name}"),)).fetchone()[0]
            if got:
                self._leader_conns[name] = conn
                return True
            conn.close()
            return False

    def release_leader(self, name: str) -> None:
        with self._leader_lock:
            conn = self._leader_conns.pop(name, None)
            if conn is not None and not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_key(f"rat:leader:{name}"),))
                conn.close()

    def close(self) -> None:
        for name in list(self._leader_conns):
            self.release_leader(name)
        super().close()


def _key(text: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return zlib.crc32(text.encode()) - 2**31
