"""Plain settings the core is built from. The server extension fills them from traitlets."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_SETTINGS = "RAT_SETTINGS"


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
    duckdb_threads: int = 0  # 0 = DuckDB's default
    duckdb_memory_limit: str = ""
    query_row_limit: int = 1000
    query_timeout_seconds: float = 30.0
    query_memory_limit: str = "1GB"
    max_upload_bytes: int = 32 * 1024 * 1024
    server_id: str = ""  # names the server that owns a run; default: the host name

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

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        data["s3"] = S3Options(**data.get("s3", {}))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of the Jupyter server that started this process (kernels and magics use this).

        The server extension exports ``RAT_SETTINGS`` (its whole configuration) to the processes it starts,
        so a notebook finds the same storage, catalog and state with no set-up; without it, the embedded
        default in ``RAT_DATA_DIR`` (or ``./.rat``) is used.
        """
        text = os.environ.get(ENV_SETTINGS)
        return cls.from_json(text) if text else cls()
