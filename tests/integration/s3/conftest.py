"""Fixtures of the S3 step tests: a step context whose ``lake`` resource points at the moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.servers.s3 import S3Server
from tests.support.context import RecordedEvents, make_step_context

StepEnv = tuple[Any, RecordedEvents]


@pytest.fixture
def s3_step_env(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> Iterator[Callable[..., StepEnv]]:
    """Factory ``make(config=..., options=..., step_id=...)`` -> (ctx, events); ``config.bucket`` is the test's."""
    pools: list[Any] = []

    def make(
        *, config: dict[str, Any] | None = None, options: dict[str, Any] | None = None, step_id: str = "s1"
    ) -> StepEnv:
        resource = ResolvedResource(
            name="lake",
            kind="s3",
            driver="boto3",
            config=s3_server.config(bucket=s3_bucket, **(config or {})),
            options={"retries": {"max_attempts": 1}, **(options or {})},
        )
        ctx, events, pool = make_step_context(tmp_path, step_id=step_id, resources={"lake": resource})
        pools.append(pool)
        return ctx, events

    yield make
    for pool in pools:
        pool.close_all()
