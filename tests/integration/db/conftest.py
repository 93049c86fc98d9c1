"""Fixtures of the DB step tests: a real step context whose resources point at a real database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.support.context import make_step_context, run_step

StepRunner = Callable[..., Any]


class DbHarness:
    """Runs DB steps against one resource in a real step context; keeps the context to inspect afterwards."""

    def __init__(self, tmp_path: Path, resource: ResolvedResource) -> None:
        self.ctx, self.events, self.pool = make_step_context(tmp_path, resources={resource.name: resource})
        self.resource = resource.name

    @property
    def artifacts(self) -> Path:
        return self.ctx.artifacts_dir

    def run(self, step_type: str, **inputs: Any) -> Any:
        return run_step(self.ctx, step_type, {"resource": self.resource, **inputs})

    def connector(self) -> Any:
        return self.ctx.connector(self.resource, kind="db")


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Callable[[ResolvedResource], DbHarness]]:
    made: list[DbHarness] = []

    def make(resource: ResolvedResource) -> DbHarness:
        harness = DbHarness(tmp_path / f"h{len(made)}", resource)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.pool.close_all()
