"""Identifiers and timestamps shared by the core and the stores.

They live in the core (not in ``stores/``) so a core service can mint an id or a timestamp without importing
a store module; ``rat_jupyter.stores.state`` re-exports both for code written before the move.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def now_iso() -> str:
    """The current instant in UTC, ISO 8601 with microseconds: sortable as text, the state store's format."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A random 32-hex-digit id (no dashes, so it is also a valid path segment and URL part)."""
    return uuid.uuid4().hex
