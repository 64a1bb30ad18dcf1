"""The workspace's services: one module per feature, each behind the ``Workspace`` facade.

Where each feature lives (the facade attribute in brackets; every facade method delegates to one of these):

- ``namespaces.py`` [``ws.namespaces``]: create, describe, delete a namespace (and everything in it).
- ``pipelines.py`` [``ws.pipelines``]: the pipeline records: create (with its template files), get, list,
  update, soft delete.
- ``files.py`` [``ws.files``]: the files of a pipeline and of storage: draft, published, read, write (validated),
  delete, list.
- ``versions.py`` [``ws.versions``]: validate, publish, list and read versions, roll back.
- ``graph.py`` [``ws.graph``]: the dependency graph: what each pipeline reads (recorded, cached), the DAG, and
  selections (``ns.*``, ``x+``, ``+x``).
- ``runs.py`` [``ws.run_service``]: submit a selection's runs, read run records and logs, cancel, wait
  (``ws.runs`` is the ``RunManager`` that claims and executes them).
- ``quality.py`` [``ws.quality``]: quality test files: list, read, save, delete.
- ``previews.py`` [``ws.previews``]: dry runs and test runs on the executor, under the admission limit.
- ``landing.py`` [``ws.landing``]: landing zones, their uploaded files, samples and lifecycle.
- ``tables.py`` [``ws.tables``]: the explorer: tables, their metadata and history, the read-only query service.
- ``lineage.py`` [``ws.lineage_service``]: the lineage graph of pipelines, tables and zones.
- ``rename.py`` [``ws.renames``]: rename a pipeline with its files, table, runs, schedules and triggers.
- ``tree.py`` [``ws.tree``]: the tree a sidebar shows (namespaces; pipelines, tables, zones of the open ones).
- ``admin.py`` [``ws.admin``]: retention and the reaper, the audit log, metrics, readiness, executor details.

Schedules and triggers are ``core/schedules.py`` (``ws.schedules``). A service sees the workspace's parts
(settings, storage, state store, catalog, executor) through the facade, so they are built lazily and once, and
calls other services through it too. Request models (``core/models.py``) are what a service takes where a
request is parsed, so the REST layer and the facade's keyword methods validate the same way (ADR 0019).
"""

from __future__ import annotations

from .admin import AdminService
from .files import FileService
from .graph import GraphService
from .landing import LandingService
from .lineage import LineageService
from .namespaces import NamespaceService
from .pipelines import PipelineService
from .previews import PreviewService
from .quality import QualityService
from .rename import RenameService
from .runs import RunService, RunView
from .tables import TableService
from .tree import TreeService
from .versions import VersionService

__all__ = ["AdminService", "FileService", "GraphService", "LandingService", "LineageService", "NamespaceService",
           "PipelineService", "PreviewService", "QualityService", "RenameService", "RunService", "RunView",
           "TableService", "TreeService", "VersionService"]
