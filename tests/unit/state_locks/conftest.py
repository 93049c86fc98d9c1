"""Fixtures of the lock tests: a fresh state database (current schema, WAL) per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.state_locks.support import make_state_db


@pytest.fixture
def lock_db(tmp_path: Path) -> Path:
    return make_state_db(tmp_path / "state.db")
