"""Fixtures of the Excel step tests: a real step context with a workspace under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.context import make_step_context, run_step


class ExcelHarness:
    """Runs Excel steps in one job workspace; ``artifacts`` is where relative paths land."""

    def __init__(self, tmp_path: Path, enterprise: bool = False) -> None:
        self.ctx, self.events, self.pool = make_step_context(tmp_path, enterprise=enterprise)

    @property
    def artifacts(self) -> Path:
        return self.ctx.artifacts_dir

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.artifacts / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def run(self, step_type: str, **inputs: Any) -> Any:
        return run_step(self.ctx, step_type, inputs)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ExcelHarness]:
    made = ExcelHarness(tmp_path)
    yield made
    made.pool.close_all()
