"""Graph algorithms over the ``depends_on`` edges: execution order, cycles (strongly connected parts), ancestors.

Every function takes a plain mapping job id -> dependency ids, so it knows nothing about flows or validation.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Mapping


def execution_order(ids: list[str], depends_on: Mapping[str, Collection[str]]) -> list[str]:
    """Kahn's algorithm; among ready jobs the one declared first goes first (docs/concepts/flows-jobs-steps.md).

    Jobs caught in a cycle (rejected by validation) are appended in declaration order so nothing is lost.
    """
    index = {job_id: i for i, job_id in reversed(list(enumerate(ids)))}
    unique = sorted(index, key=index.__getitem__)
    waiting = {job: {d for d in depends_on.get(job, ()) if d in index and d != job} for job in unique}
    dependents: dict[str, list[str]] = {job: [] for job in unique}
    for job, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(job)
    ready = [(index[job], job) for job in unique if not waiting[job]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, job = heapq.heappop(ready)
        order.append(job)
        for nxt in dependents[job]:
            waiting[nxt].discard(job)
            if not waiting[nxt]:
                heapq.heappush(ready, (index[nxt], nxt))
    if len(order) < len(unique):
        done = set(order)
        order.extend(job for job in unique if job not in done)
    return order


class _Tarjan:
    """The bookkeeping of one run of Tarjan's algorithm."""

    def __init__(self, graph: Mapping[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.on_stack: set[str] = set()
        self.stack: list[str] = []
        self.result: list[list[str]] = []

    def visit(self, node: str) -> Iterator[str]:
        """Number ``node``, push it, and return the iterator over its edges (sorted: deterministic output)."""
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return iter(sorted(self.graph.get(node, ())))

    def pop_component(self, node: str) -> None:
        component: list[str] = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == node:
                break
        self.result.append(component)

    def from_root(self, root: str) -> None:
        work: list[tuple[str, Iterator[str]]] = [(root, self.visit(root))]
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in self.index:
                    work.append((nxt, self.visit(nxt)))
                    advanced = True
                    break
                if nxt in self.on_stack:
                    self.low[node] = min(self.low[node], self.index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            if self.low[node] == self.index[node]:
                self.pop_component(node)


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long dependency chains)."""
    tarjan = _Tarjan(graph)
    for root in graph:
        if root not in tarjan.index:
            tarjan.from_root(root)
    return tarjan.result


def ancestors(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Every job's transitive dependencies (cycles tolerated: they were reported already)."""
    out: dict[str, set[str]] = {}
    for job in graph:
        seen: set[str] = set()
        todo = list(graph[job])
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            todo.extend(graph.get(dep, ()))
        out[job] = seen
    return out
