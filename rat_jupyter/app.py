"""The Jupyter server extension: configuration (traitlets), the workspace, and the REST routes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, Unicode, default, validate

from .core.settings import ENV_SETTINGS, S3Options, Settings
from .core.workspace import Workspace


class RatApp(ExtensionApp):
    """RAT lakehouse: pipelines, runs, query, scheduler — under ``{base_url}rat/``."""

    name = "rat"
    load_other_extensions = True

    data_dir = Unicode(help="Folder for the embedded default (local storage, SQLite catalog and state). "
                            "Env: RAT_DATA_DIR.").tag(config=True)
    storage_url = Unicode("", help="Where pipeline code and landing files live: empty = <data_dir>/storage, "
                                   "or s3://bucket/prefix.").tag(config=True)
    catalog_type = Unicode("sql", help="Iceberg catalog kind: 'sql' (SQLite/PostgreSQL) or 'rest'.").tag(config=True)
    catalog_uri = Unicode("", help="Iceberg catalog URI: empty = SQLite in data_dir; postgresql+psycopg://… "
                                   "for a SQL catalog; http://… for a REST catalog.").tag(config=True)
    catalog_properties = Dict(help="Extra pyiceberg catalog properties (e.g. credential).").tag(config=True)
    warehouse = Unicode("", help="Iceberg warehouse location: empty = <data_dir>/warehouse, or s3://…").tag(config=True)
    state_url = Unicode("", help="Platform state store: empty = SQLite in data_dir, or postgresql://…").tag(config=True)
    s3_endpoint = Unicode("", help="S3-compatible endpoint URL (e.g. http://127.0.0.1:8333).").tag(config=True)
    s3_access_key_id = Unicode("", help="S3 access key id (env AWS_ACCESS_KEY_ID).").tag(config=True)
    s3_secret_access_key = Unicode("", help="S3 secret key (env AWS_SECRET_ACCESS_KEY).").tag(config=True)
    s3_region = Unicode("us-east-1", help="S3 region.").tag(config=True)
    concurrency = Int(2, help="Worker processes that execute runs in parallel.").tag(config=True)
    run_timeout_seconds = Float(3600.0, help="A run still going after this many seconds is killed.").tag(config=True)
    query_row_limit = Int(1000, help="Default row cap of the query service.").tag(config=True)
    query_timeout_seconds = Float(30.0, help="Statement timeout of the query service.").tag(config=True)
    query_memory_limit = Unicode("1GB", help="DuckDB memory limit of the query service.").tag(config=True)
    max_upload_bytes = Int(32 * 1024 * 1024, help="Largest accepted upload, in bytes.").tag(config=True)
    scheduler_enabled = Bool(True, help="Run the scheduler, triggers and reaper in this server.").tag(config=True)
    server_id = Unicode("", help="Name of this server in a shared (PostgreSQL) state store; a restart recovers "
                                 "only its own runs. Default: the host name.").tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("RAT_DATA_DIR") or str(Path.cwd() / ".rat")

    @validate("concurrency")
    def _check_concurrency(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 1 <= value <= 64:
            raise ValueError("concurrency must be between 1 and 64")
        return value

    def build_settings(self) -> Settings:
        s3 = S3Options(
            endpoint=self.s3_endpoint or None,
            access_key_id=self.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=self.s3_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            region=self.s3_region,
        )
        return Settings(
            data_dir=Path(self.data_dir), storage_url=self.storage_url, catalog_uri=self.catalog_uri,
            catalog_type=self.catalog_type, catalog_properties=dict(self.catalog_properties),
            warehouse=self.warehouse, state_url=self.state_url, s3=s3, concurrency=self.concurrency,
            run_timeout_seconds=self.run_timeout_seconds, query_row_limit=self.query_row_limit,
            query_timeout_seconds=self.query_timeout_seconds, query_memory_limit=self.query_memory_limit,
            max_upload_bytes=self.max_upload_bytes, server_id=self.server_id,
        )

    def initialize_settings(self) -> None:
        from .scheduler import SchedulerService

        self.workspace = Workspace.open(self.build_settings(), server=True, warm=True)
        self.scheduler = SchedulerService(self.workspace)
        self.settings["rat_workspace"] = self.workspace
        self.settings["rat_scheduler"] = self.scheduler
        # Kernels and magics started from this server find the same configuration.
        os.environ["RAT_DATA_DIR"] = str(self.workspace.settings.data_dir)
        os.environ[ENV_SETTINGS] = self.workspace.settings.to_json()

    def initialize_handlers(self) -> None:
        from .handlers import routes

        self.handlers.extend(routes(self))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.scheduler_enabled:
            self.scheduler.start()

    async def stop_extension(self) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            scheduler.stop()
        ws = getattr(self, "workspace", None)
        if ws is not None:
            ws.close()


main = launch_new_instance = RatApp.launch_instance
