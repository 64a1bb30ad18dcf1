"""Re-exports :mod:`rat_jupyter.common.settings`, where it moved so the stores need not import the core (ADR 0019).

Front doors, notebooks and tests keep importing ``rat_jupyter.core.settings``; the stores import the common one.
"""

from ..common.settings import *  # noqa: F403
