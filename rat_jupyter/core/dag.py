"""A small generic DAG: deterministic topological orders (level by level, or critical path first) and cycles
reported with their path."""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from .errors import CycleError

T = TypeVar("T", bound=Hashable)


class DAG(Generic[T]):
    """Nodes with ``upstream`` edges. ``add(node, deps)`` records that ``node`` reads ``deps``."""

    def __init__(self) -> None:
        self._up: dict[T, set[T]] = {}

    def add(self, node: T, deps: Iterable[T] = ()) -> None:
        self._up.setdefault(node, set())
        for dep in deps:
            self._up.setdefault(dep, set())
            self._up[node].add(dep)

    def __contains__(self, node: object) -> bool:
        return node in self._up

    @property
    def nodes(self) -> list[T]:
        return sorted(self._up, key=str)

    def upstream(self, node: T) -> set[T]:
        return set(self._up.get(node, ()))

    def downstream(self, node: T) -> set[T]:
        return {n for n, deps in self._up.items() if node in deps}

    def edges(self) -> list[tuple[T, T]]:
        """``(upstream, downstream)`` pairs, sorted."""
        return sorted(((d, n) for n, deps in self._up.items() for d in deps), key=str)

    def closure_down(self, node: T) -> set[T]:
        seen, stack = {node}, [node]
        while stack:
            for n in self.downstream(stack.pop()):
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        return seen

    def closure_up(self, node: T) -> set[T]:
        seen, stack = {node}, [node]
        while stack:
            for n in self._up.get(stack.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        return seen

    def find_cycle(self, within: set[T] | None = None) -> list[T] | None:
        """Return one cycle as a path ``[a, b, …, a]`` (following upstream edges), or ``None``."""
        nodes = set(self._up) if within is None else set(within)
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(nodes, white)

        def deps(n: T) -> list[T]:
            return sorted((d for d in self._up.get(n, ()) if d in nodes), key=str)

        for start in sorted(nodes, key=str):
            if color[start] != white:
                continue
            path: list[T] = [start]
            stack: list[tuple[T, list[T]]] = [(start, deps(start))]
            color[start] = grey
            while stack:
                node, todo = stack[-1]
                if todo:
                    nxt = todo.pop(0)
                    if color[nxt] == grey:
                        return [*path[path.index(nxt):], nxt]
                    if color[nxt] == white:
                        color[nxt] = grey
                        path.append(nxt)
                        stack.append((nxt, deps(nxt)))
                else:
                    color[node] = black
                    path.pop()
                    stack.pop()
        return None

    def cycle_through(self, node: T) -> list[T] | None:
        """A cycle that contains ``node``, if any (other cycles in the graph are ignored)."""
        reach = self.closure_up(node) & self.closure_down(node)
        return self.find_cycle(reach) if len(reach) > 1 or node in self._up.get(node, set()) else None

    def topological(self, subset: Iterable[T] | None = None) -> list[T]:
        """Upstream first; ties broken by name so the order is deterministic.

        Raises :class:`CycleError` naming a cycle among the chosen nodes (cycles elsewhere don't matter).
        """
        keep = set(self._up) if subset is None else set(subset)
        remaining = {n: {d for d in self._up.get(n, ()) if d in keep} for n in keep}
        order: list[T] = []
        while remaining:
            ready = sorted((n for n, deps in remaining.items() if not deps), key=str)
            if not ready:
                cycle = self.find_cycle(set(remaining)) or list(remaining)
                # reading edges point upstream; show the data flow (producer -> consumer)
                raise CycleError([str(n) for n in reversed(cycle)])
            for n in ready:
                order.append(n)
                del remaining[n]
            for deps in remaining.values():
                deps.difference_update(ready)
        return order

    def critical_first(self, subset: Iterable[T] | None = None) -> list[T]:
        """Upstream first, like :meth:`topological`; among the nodes whose upstreams come before them, the
        one with the longest chain of nodes below it comes first (ties by name).

        This is the order runs are created and claimed in (oldest first). In level order, a node that most
        of the DAG waits on (a silver table every gold model joins) queued behind every leaf of its level
        (``gold.*`` sorts before ``silver.*``), so the workers ran leaves while the chain everything waits on
        had not started, and the chain then ran with one worker idle. Longest chain first is the classic
        list-scheduling priority (critical path); it needs no durations, so the order stays deterministic.
        """
        keep = set(self._up) if subset is None else set(subset)
        below: dict[T, list[T]] = {n: [] for n in keep}
        for n in keep:
            for d in self._up.get(n, ()):
                if d in keep:
                    below[d].append(n)
        height: dict[T, int] = {}
        for n in reversed(self.topological(keep)):  # raises CycleError naming a cycle, as topological does
            height[n] = 1 + max((height[c] for c in below[n]), default=0)
        waiting = {n: sum(1 for d in self._up.get(n, ()) if d in keep) for n in keep}
        ready = [(-height[n], str(n), i, n) for i, n in enumerate(sorted(keep, key=str)) if not waiting[n]]
        heapq.heapify(ready)
        order: list[T] = []
        while ready:
            *_, n = heapq.heappop(ready)
            order.append(n)
            for c in below[n]:
                waiting[c] -= 1
                if not waiting[c]:
                    heapq.heappush(ready, (-height[c], str(c), len(order) + len(keep), c))
        return order
