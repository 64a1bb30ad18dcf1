"""The composition root of the core: the one core module that names concrete stores.

Everything else in ``rat_jupyter.core`` is written against the protocols in ``stores/protocols.py`` (the state
store) and the ``Storage`` interface, and is handed its parts. The parts are built here: by
``Workspace.open`` in a server, a kernel or a script, and by the runner's per-process cache in a worker.
``tests/test_architecture.py`` fails when another core module imports a store module (ADR 0019).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..stores.state import open_state
from ..stores.storage import Storage, open_storage

if TYPE_CHECKING:
    from ..common.settings import Settings
    from ..stores.catalog import Catalog
    from ..stores.protocols import StateStore

__all__ = ["Catalog", "Storage", "open_catalog", "open_parts", "open_state", "open_storage"]


def open_parts(settings: Settings) -> tuple[Storage, StateStore]:
    """The storage and state store ``settings`` name (the catalog is built lazily: pyiceberg is not free)."""
    return open_storage(settings.resolved_storage_url, settings.s3), open_state(settings.resolved_state_url)


def open_catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog ``settings`` name."""
    from ..stores.catalog import Catalog

    return Catalog(settings)


def __getattr__(name: str) -> Any:
    """``Catalog`` on first use, so importing the core does not import pyiceberg."""
    if name == "Catalog":
        from ..stores.catalog import Catalog

        return Catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
