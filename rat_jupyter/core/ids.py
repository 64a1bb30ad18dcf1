"""Re-exports :mod:`rat_jupyter.common.ids`, where it moved so the stores need not import the core (ADR 0019).

Front doors, notebooks and tests keep importing ``rat_jupyter.core.ids``; the stores import the common one.
"""

from ..common.ids import *  # noqa: F403
