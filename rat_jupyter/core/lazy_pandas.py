"""Load a worker's runtime without pandas, and load pandas when a pipeline first imports it (ADR 0035).

pyarrow imports pandas as a side effect of ``import pyarrow.dataset``, which pyiceberg imports: every worker
paid ~25 MiB of private memory and ~0.2 s of its cold start for a library that only a Python pipeline working
with DataFrames uses. :func:`runtime_without_pandas` holds pandas back while the runtime is imported; pyarrow
then records "no pandas". :class:`_Resync` watches for the first real ``import pandas`` (a user's pipeline,
``Table.from_pandas``, DuckDB's ``.df()``) and, once pandas has loaded, asks pyarrow to look again, so pyarrow
converts pandas objects (nullable dtypes, ``pd.NA``, categoricals) exactly as in a process that had pandas
from the start. Without that second step ``pa.array(pd.Series([1, None], dtype="Int64"))`` would fail.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

_lock = threading.Lock()


class _Hold(importlib.abc.MetaPathFinder):
    """While installed, ``import pandas`` fails as if pandas were not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is loaded on first use in this process", name=name)
        return None


class _AfterLoad(importlib.abc.Loader):
    """pandas' own loader, then pyarrow told that pandas is here."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _tell_pyarrow()

    def __getattr__(self, name: str) -> Any:  # resources, is_package, get_code...: pandas' loader answers
        return getattr(self._loader, name)


class _Resync(importlib.abc.MetaPathFinder):
    """Finds nothing itself: on the first ``import pandas`` it steps aside and wraps the real spec's loader."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "pandas":
            return None
        _remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterLoad(spec.loader)
        return spec


def _tell_pyarrow() -> None:
    """pyarrow's pandas shim retries a failed import when a caller needs pandas; ``.pd`` is such a caller."""
    lib = sys.modules.get("pyarrow.lib")
    if lib is not None:
        with contextlib.suppress(ImportError, AttributeError):
            lib._pandas_api.pd  # noqa: B018 - the attribute access is the re-check


def _remove(finder: importlib.abc.MetaPathFinder) -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def runtime_without_pandas() -> Iterator[None]:
    """Import inside this block with pandas held back; afterwards pandas loads on its first import.

    A no-op when pandas is already loaded (nothing to save) or when pyarrow was imported before (its shim
    may already have pandas). Meant for a worker process's start, before any other thread imports.
    """
    with _lock:
        if "pandas" in sys.modules or "pyarrow.lib" in sys.modules:
            yield
            return
        hold = _Hold()
        sys.meta_path.insert(0, hold)
        try:
            import pyarrow.lib

            pyarrow.lib._pandas_api.have_pandas  # noqa: B018 - pyarrow records "no pandas" now, not later
            yield
        finally:
            _remove(hold)
            if "pandas" not in sys.modules:
                sys.meta_path.insert(0, _Resync())
