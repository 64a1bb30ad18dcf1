"""REST handlers under ``{base_url}rat/api/v1``."""

from __future__ import annotations

from typing import Any

from .base import HealthHandler

API = "/rat/api/v1"


def routes(app: Any) -> list[tuple[str, Any]]:
    return [(rf"{API}/health", HealthHandler)]
