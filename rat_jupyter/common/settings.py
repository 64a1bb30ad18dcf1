"""Plain settings the core is built from. The server extension fills them from traitlets."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_SETTINGS = "RAT_SETTINGS"
ENV_SERVER = "RAT_SERVER"  # set by a Jupyter server for its kernels: JSON {url, pid, server_id}; see docs/notebooks.md
DEFAULT_EXECUTOR = "rat_jupyter.core.executor:LocalProcessExecutor"
# what a server's kernels get: previews and tests in the kernel's own process, never worker processes
CLIENT_EXECUTOR = "rat_jupyter.kernel.inprocess:InProcessExecutor"
# pyiceberg catalog properties a process may take from its own environment (kernels: the server never exports them)
PARQUET_VERSIONS = ("auto", "v1", "v2")  # the values of Settings.parquet_version (ADR 0033)
CATALOG_SECRET_ENV = {"credential": "RAT_CATALOG_CREDENTIAL", "token": "RAT_CATALOG_TOKEN"}
# catalog_properties keys that hold credentials: never exported to kernels (see Settings.to_client_json)
_SECRET_WORDS = ("secret", "password", "token", "credential", "key")


def default_data_dir() -> Path:
    env = os.environ.get("RAT_DATA_DIR")
    return Path(env) if env else Path.cwd() / ".rat"


@dataclass(frozen=True)
class S3Options:
    """Connection details for an S3-compatible object store (also used by the Iceberg file IO)."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    path_style: bool = True

    def pyiceberg_properties(self) -> dict[str, str]:
        props = {"s3.region": self.region}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        if self.access_key_id:
            props["s3.access-key-id"] = self.access_key_id
        if self.secret_access_key:
            props["s3.secret-access-key"] = self.secret_access_key
        if self.path_style:
            props["s3.path-style-access"] = "true"
        return props


@dataclass(frozen=True)
class Settings:
    """Everything needed to open a workspace. Picklable: worker processes receive a copy.

    Empty URLs mean the embedded default under ``data_dir``: local files for storage, SQLite for the
    Iceberg catalog and for platform state.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    storage_url: str = ""
    catalog_uri: str = ""
    catalog_type: str = "sql"  # "sql" (SQLite/PostgreSQL through SQLAlchemy) or "rest"
    catalog_properties: dict[str, str] = field(default_factory=dict)
    warehouse: str = ""
    state_url: str = ""
    s3: S3Options = field(default_factory=S3Options)
    concurrency: int = 2
    run_timeout_seconds: float = 3600.0
    cancel_grace_seconds: float = 5.0
    worker_idle_seconds: float = 300.0  # a worker idle this long after a task is replaced by a cold one; 0: never
    duckdb_threads: int = 0  # 0 = the local executor shares the cores among busy workers (ADR 0031)
    duckdb_memory_limit: str = ""
    # Parquet format of the files DuckDB writes: "v2" (newer encodings: about half the size, faster to read),
    # "v1" (what every reader reads), "auto" (v2, but v1 on a REST catalog, whose tables other engines read
    # too); see ADR 0033
    parquet_version: str = "auto"
    # Whether a SQL pipeline's rows keep the order DuckDB reads them in when its query has no ORDER BY. Off:
    # such a result is written by every thread as it comes, in row groups of half DuckDB's default (about
    # half the writer's memory, ADR 0039); a query with ORDER BY keeps its order either way.
    preserve_insertion_order: bool = False
    query_row_limit: int = 1000
    query_timeout_seconds: float = 30.0
    query_memory_limit: str = "1GB"
    max_upload_bytes: int = 32 * 1024 * 1024
    server_id: str = ""  # names the server that owns a run; default: the host name
    executor_class: str = DEFAULT_EXECUTOR  # import string (module:Class) of the executor a server runs tasks on
    max_inflight_previews: int = 16  # previews + test runs queued or running; beyond: 429
    dask_scheduler_address: str = ""  # DaskExecutor: tcp://host:8786 (empty: Dask's scheduler-address config)

    @property
    def resolved_server_id(self) -> str:
        import socket

        return self.server_id or socket.gethostname()

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "storage").as_uri()

    @property
    def resolved_catalog_uri(self) -> str:
        return self.catalog_uri or f"sqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def resolved_warehouse(self) -> str:
        return self.warehouse or (self.data_dir / "warehouse").as_uri()

    @property
    def resolved_state_url(self) -> str:
        return self.state_url or f"sqlite:///{self.data_dir / 'state.db'}"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        data["data_dir"] = str(self.data_dir)
        return json.dumps(data)

    def to_client_json(self) -> str:
        """The settings a kernel started by the server gets: no S3 keys, no credential-like catalog properties,
        and the in-process executor (a kernel submits runs; it never starts worker processes).

        A kernel reads tables (DuckDB over the catalog) and writes ``pending`` runs to the state store, so it
        keeps ``catalog_uri`` and ``state_url`` as configured (a password in one of those URLs is what that
        store needs to be opened at all; use a PostgreSQL role limited to RAT's database). Object-store
        credentials are not needed to submit or follow runs; to read S3-backed tables a kernel uses its own
        ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (see :meth:`from_env`).
        """
        data = json.loads(self.to_json())
        data["executor_class"] = CLIENT_EXECUTOR
        data["s3"].pop("access_key_id", None)
        data["s3"].pop("secret_access_key", None)
        data["catalog_properties"] = {k: v for k, v in self.catalog_properties.items()
                                      if not any(w in k.lower() for w in _SECRET_WORDS)}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        data["s3"] = S3Options(**data.get("s3", {}))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of the Jupyter server that started this process (kernels and magics use this).

        The server extension exports ``RAT_SETTINGS`` (its configuration without secrets, see
        :meth:`to_client_json`) to the processes it starts, so a notebook finds the same storage, catalog and
        state with no set-up; without it, the embedded default in ``RAT_DATA_DIR`` (or ``./.rat``) is used.
        S3 credentials come from this process's own ``AWS_*`` variables, and a REST catalog's credential or
        token (never exported either) from ``RAT_CATALOG_CREDENTIAL`` / ``RAT_CATALOG_TOKEN``.
        """
        text = os.environ.get(ENV_SETTINGS)
        settings = cls.from_json(text) if text else cls()
        if settings.s3.access_key_id is None and settings.s3.secret_access_key is None:
            key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
            if key or secret:
                settings = settings.with_(s3=replace(settings.s3, access_key_id=key or None,
                                                     secret_access_key=secret or None))
        own = {prop: os.environ[var] for prop, var in CATALOG_SECRET_ENV.items()
               if os.environ.get(var) and prop not in settings.catalog_properties}
        if own:
            settings = settings.with_(catalog_properties={**settings.catalog_properties, **own})
        return settings


def parquet_version_choice(value: str) -> str:
    """``value`` as one of :data:`PARQUET_VERSIONS` (any case, spaces around ignored), else ValueError. The
    ``RatApp`` trait checks with it at start-up; the engine again for settings that came another way."""
    choice = str(value).strip().lower()
    if choice not in PARQUET_VERSIONS:
        raise ValueError(f"parquet_version must be one of {', '.join(PARQUET_VERSIONS)}, not '{value}'")
    return choice
