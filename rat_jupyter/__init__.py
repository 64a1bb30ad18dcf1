"""RAT for Jupyter: a self-hostable lakehouse (DuckDB + Apache Iceberg) inside the Jupyter server.

Extension points: the server extension (``RatApp``) and the ``%rat`` IPython magics.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import RatApp

    return [{"module": "rat_jupyter.app", "app": RatApp}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rat_jupyter`` registers the ``%rat`` magics."""
    from .kernel import load_ipython_extension as load

    load(ipython)
