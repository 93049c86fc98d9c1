"""The dependency-graph algorithms on their own: cycles (strongly connected parts) and transitive dependencies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aetherflow.plan.graph import ancestors, strongly_connected

NODES = [f"j{i}" for i in range(7)]
graphs = st.fixed_dictionaries({node: st.sets(st.sampled_from(NODES), max_size=4) for node in NODES})


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@given(graphs)
def test_two_jobs_share_a_component_exactly_when_each_reaches_the_other(graph: dict[str, set[str]]) -> None:
    components = strongly_connected(graph)
    where = {node: n for n, component in enumerate(components) for node in component}

    assert sorted(where) == sorted(graph)
    assert sum(len(c) for c in components) == len(graph)
    for a in graph:
        for b in graph:
            mutual = b in _reachable(graph, a) and a in _reachable(graph, b)
            assert (where[a] == where[b]) == mutual


@given(graphs)
def test_ancestors_are_every_job_reachable_through_depends_on(graph: dict[str, set[str]]) -> None:
    found = ancestors(graph)

    for job, deps in graph.items():
        through = set().union(*(_reachable(graph, dep) for dep in deps))
        assert found[job] == through


def test_a_cycle_through_a_chain_of_ten_thousand_jobs_is_found_without_recursion() -> None:
    ids = [f"j{i}" for i in range(10_000)]
    graph = {job: {ids[i + 1]} for i, job in enumerate(ids[:-1])} | {ids[-1]: {ids[0]}}

    assert [sorted(c) for c in strongly_connected(graph)] == [sorted(ids)]


def test_components_come_out_dependencies_first() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"b"}, "d": set()}

    assert strongly_connected(graph) == [["c", "b"], ["a"], ["d"]]
