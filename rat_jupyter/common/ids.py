"""Identifiers and timestamps shared by the core and the stores.

They live in ``common`` (neither the core nor ``stores/``) so a core service and a store can both mint an id or
a timestamp without importing each other; ``rat_jupyter.stores.state`` and ``rat_jupyter.core.ids``
re-export both for code written before the move.
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
