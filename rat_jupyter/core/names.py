"""Re-exports :mod:`rat_jupyter.common.names`, where it moved so the stores need not import the core (ADR 0019).

Front doors, notebooks and tests keep importing ``rat_jupyter.core.names``; the stores import the common one.
"""

from ..common.names import *  # noqa: F403
