"""A small per-process memo for values derived from pyiceberg's frozen schema objects (ADR 0030)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class IdentityMemo:
    """A per-process memo of values derived from pyiceberg's frozen schema objects, least recently used out.

    ``keep`` holds the objects whose ids are in a key: they stay alive while cached, and a hit must be for
    those same objects, not for new ones that reuse a freed id."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.built = 0  # how many values were built (tests count it)

    def get(self, key: tuple[Any, ...], keep: tuple[Any, ...], build: Any) -> Any:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], keep, strict=True)):
                self._cache.move_to_end(key)
                return hit[1]
        value = build()
        with self._lock:
            self.built += 1
            self._cache[key] = (keep, value)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return value
