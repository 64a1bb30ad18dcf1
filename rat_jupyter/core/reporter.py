"""How the core reports progress without printing: a tiny interface the front doors implement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol


class Reporter(Protocol):
    def log(self, level: str, message: str) -> None: ...

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None: ...


class ListReporter:
    """Collects lines in memory (previews, tests)."""

    def __init__(self) -> None:
        self.lines: list[dict[str, str]] = []
        self.phases: list[dict[str, Any]] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append({"timestamp": datetime.now(UTC).isoformat(), "level": level, "message": message})

    def phase(self, name: str, duration_ms: int, metadata: dict[str, Any] | None = None) -> None:
        self.phases.append({"name": name, "duration_ms": duration_ms, "metadata": metadata or {}})
