"""Re-exports :mod:`rat_jupyter.common.history`, which the core's runner and strategies share with the catalog
(moved there so the core needs no store module for it; ADR 0019)."""

from ..common.history import *  # noqa: F403
