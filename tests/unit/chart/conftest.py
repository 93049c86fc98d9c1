"""Fixtures of the offline chart and e2e-logic tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.chart.emulator import Emulator, running_emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh in-process Kubernetes API (kmock) and a ``kubernetes`` ApiClient pointed at it."""
    with running_emulator() as emu:
        yield emu
