"""Re-exports :mod:`rat_jupyter.common.errors`, where it moved so the stores need not import the core (ADR 0019).

Front doors, notebooks and tests keep importing ``rat_jupyter.core.errors``; the stores import the common one.
"""

from ..common.errors import *  # noqa: F403
