"""Fixtures of the ``http_request`` tests: a step context whose ``api`` resource points at the test server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.servers.httpserver import HttpTestServer
from tests.support.context import RecordedEvents, make_step_context

StepEnv = tuple[Any, RecordedEvents]


@pytest.fixture
def http_step_env(tmp_path: Path, http_server: HttpTestServer) -> Iterator[Callable[..., StepEnv]]:
    """Factory ``make(config=..., options=..., driver=...)`` -> (ctx, events); connectors closed afterwards."""
    pools: list[Any] = []

    def make(
        *, config: dict[str, Any] | None = None, options: dict[str, Any] | None = None, driver: str = "http"
    ) -> StepEnv:
        resource = ResolvedResource(
            name="api",
            kind="rest",
            driver=driver,
            config={"base_url": http_server.url, **(config or {})},
            options={"timeout": 5, **(options or {})},
        )
        ctx, events, pool = make_step_context(tmp_path, resources={"api": resource})
        pools.append(pool)
        return ctx, events

    yield make
    for pool in pools:
        pool.close_all()
