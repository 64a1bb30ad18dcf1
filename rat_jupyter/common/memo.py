"""Small per-process memos: a bounded least-recently-used map, one for values derived from pyiceberg's
frozen schema objects (ADR 0030), and value keys for objects that are costly to hash.

Every per-process cache of the write path (tables by metadata pointer, parsed metadata files, manifest lists
and entries, snapshot files, writer trees) is one of these: the same bound, eviction and locking everywhere.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")
MISSING: Any = object()  # what :meth:`Lru.get` returns for a key it does not hold (``None`` may be a value)


class Lru(Generic[V]):
    """A thread-safe map of at most ``size`` units, least recently used out first.

    A value weighs 1 unless ``weight`` says otherwise (a manifest's entries weigh as many as there are); a
    value heavier than the whole bound is not kept. A value is weighed when it is put, and that weight is
    what leaves with it: a value that grows in place after (a cached table a commit updates) is re-weighed by
    putting it again, and the count of units in use never drifts.
    """

    def __init__(self, size: int, weight: Callable[[V], int] | None = None) -> None:
        self.size = size
        self._weight = weight
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        """The units the values held weigh (as weighed when put)."""
        return self._used

    def get(self, key: Hashable, default: Any = MISSING) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key][0]

    def put(self, key: Hashable, value: V, keep: Callable[[V, V], bool] | None = None) -> Any:
        """Hold ``value`` under ``key`` and return what left the map for it: the value it replaced, ``value``
        itself when it was not stored, or :data:`MISSING`.

        ``keep(held, value)`` true leaves a held value in place (a cache of the newest version of something
        must not let an older one, read late, replace it); the check and the store are one step under the
        lock, so two threads putting versions of one key at once keep the one ``keep`` prefers.
        """
        weight = self._weight(value) if self._weight else 1
        with self._lock:
            held, held_weight = self._data.get(key, (MISSING, 0))
            if held is not MISSING:
                if keep is not None and keep(held, value):
                    self._data.move_to_end(key)
                    return value
                del self._data[key]
                self._used -= held_weight
            if weight > self.size:
                return value
            self._data[key] = (value, weight)
            self._used += weight
            while self._used > self.size:
                self._used -= self._data.popitem(last=False)[1][1]
            return held

    def pop(self, key: Hashable) -> None:
        with self._lock:
            entry = self._data.pop(key, None)
            if entry is not None:
                self._used -= entry[1]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._used = 0

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, oldest first, as they were when asked (safe while other threads put and pop)."""
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class IdentityMemo:
    """A per-process memo of values derived from pyiceberg's frozen schema objects, least recently used out.

    ``keep`` holds the objects whose ids are in a key: they stay alive while cached, and a hit must be for
    those same objects, not for new ones that reuse a freed id. A key of values only (:class:`ContentKeys`)
    keeps nothing: ``keep=()``."""

    def __init__(self, size: int) -> None:
        self._cache: Lru[tuple[tuple[Any, ...], Any]] = Lru(size)
        self.built = 0  # how many values were built (tests count it)
        self._count = threading.Lock()

    def get(self, key: tuple[Any, ...], keep: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not MISSING and all(a is b for a, b in zip(hit[0], keep, strict=True)):
            return hit[1]
        value = build()
        with self._count:  # ``+=`` is a read and a write: two builders at once would count one
            self.built += 1
        self._cache.put(key, (keep, value))
        return value

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._cache)


class _Content:
    """A value as a dict key, its hash computed once (a tuple hashes its items again on every lookup)."""

    __slots__ = ("_hash", "value")

    def __init__(self, value: Hashable) -> None:
        self.value = value
        self._hash = hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return other is self or (isinstance(other, _Content) and other._hash == self._hash
                                 and other.value == self.value)


class ContentKeys:
    """A key by value for objects that are costly to hash, worked out once per object while it lives.

    pyiceberg builds new schema objects each time a process parses a table's metadata file, equal to the ones
    it had: a memo keyed by their identity built its values again for every such object and kept each object
    alive until evicted (a worker running a large DAG round after round piled up thousands of equal schemas).
    Keyed by content, the new object finds what the old one built. Hashing a schema's fields costs ~10 µs, so
    each object's key is kept by its id, checked by a weak reference (a freed id reused by another object is
    not taken for it) and dropped when the object goes.
    """

    def __init__(self, content: Callable[[Any], Hashable]) -> None:
        self._content = content
        self._held: dict[int, tuple[weakref.ref[Any], _Content]] = {}

    def of(self, obj: Any) -> Hashable:
        ident = id(obj)
        held = self._held.get(ident)
        if held is not None and held[0]() is obj:
            return held[1]
        key = _Content(self._content(obj))

        def gone(ref: weakref.ref[Any]) -> None:
            entry = self._held.get(ident)
            if entry is not None and entry[0] is ref:
                del self._held[ident]

        self._held[ident] = (weakref.ref(obj, gone), key)
        return key

    def __len__(self) -> int:
        return len(self._held)
