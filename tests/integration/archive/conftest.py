"""Fixtures of the archive step tests: a real step context with a workspace under tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.support.context import make_step_context, run_step


class ArchiveHarness:
    """Runs archive steps in one job workspace; ``artifacts`` is where relative paths land."""

    def __init__(self, tmp_path: Path, resources: dict[str, ResolvedResource], enterprise: bool) -> None:
        self.ctx, self.events, self.pool = make_step_context(tmp_path, resources=resources, enterprise=enterprise)

    @property
    def artifacts(self) -> Path:
        return self.ctx.artifacts_dir

    def write(self, rel: str, content: str | bytes = "data") -> Path:
        path = self.artifacts / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def run(self, step_type: str, **inputs: Any) -> Any:
        return run_step(self.ctx, step_type, inputs)


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., ArchiveHarness]]:
    made: list[ArchiveHarness] = []

    def make(*resources: ResolvedResource, enterprise: bool = False) -> ArchiveHarness:
        harness = ArchiveHarness(tmp_path / f"h{len(made)}", {r.name: r for r in resources}, enterprise)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.pool.close_all()


@pytest.fixture
def harness(make_harness: Callable[..., ArchiveHarness]) -> ArchiveHarness:
    return make_harness()
