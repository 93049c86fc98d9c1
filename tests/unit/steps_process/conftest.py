"""The ``proc_step`` fixture: a real step context for ``external.process`` with a redactor the test can feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.redaction import Redactor
from tests.support.context import make_step_context
from tests.unit.steps_process.helpers import ProcessHarness


@pytest.fixture
def proc_step(tmp_path: Path) -> Iterator[ProcessHarness]:
    redactor = Redactor()
    ctx, events, pool = make_step_context(tmp_path, step_type="external.process", redactor=redactor)
    yield ProcessHarness(ctx, events, redactor)
    pool.close_all()
