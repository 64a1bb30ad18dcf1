"""Notebook front doors: the "RAT SQL" kernel and the ``%rat`` IPython magics.

Nothing heavy is imported here: ``python -m rat_jupyter.kernel`` and ``%load_ext`` import only what they use.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rat_jupyter.kernel``: register the ``%rat`` magics with this IPython shell."""
    from .complete import register
    from .magics import RatMagics

    magics = RatMagics(shell=ipython)
    ipython.register_magics(magics)
    register(ipython, magics)


def unload_ipython_extension(ipython: Any) -> None:
    """Close the magics' session (its DuckDB connection and any worker processes it started)."""
    from .magics import RatMagics

    for configurable in list(getattr(ipython, "configurables", [])):
        if isinstance(configurable, RatMagics):
            configurable.close()
            ipython.configurables.remove(configurable)
