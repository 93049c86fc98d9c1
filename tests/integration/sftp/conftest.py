"""Fixtures of the SFTP step tests: a step context whose ``sftp`` resource points at the session's real sshd."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.servers.sshd import SshdServer
from tests.support.context import RecordedEvents, make_step_context

StepEnv = tuple[Any, RecordedEvents]


def sftp_resource(
    server: SshdServer, *, config: dict[str, Any] | None = None, options: dict[str, Any] | None = None
) -> ResolvedResource:
    """An ``sftp:paramiko`` resource that logs in with the test key and trusts the server's host key."""
    base = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "pkey_path": str(server.client_key),
        "known_hosts": server.known_hosts,
    }
    return ResolvedResource(
        name="sftp",
        kind="sftp",
        driver="paramiko",
        config={**base, **(config or {})},
        options={"timeout": 10, **(options or {})},
    )


@pytest.fixture
def sftp_step_env(tmp_path: Path, sshd_server: SshdServer) -> Iterator[Callable[..., StepEnv]]:
    """Factory: ``make(config=..., options=..., step_id=...)`` -> (ctx, events); connectors closed afterwards."""
    pools: list[Any] = []

    def make(
        *, config: dict[str, Any] | None = None, options: dict[str, Any] | None = None, step_id: str = "s1"
    ) -> StepEnv:
        resource = sftp_resource(sshd_server, config=config, options=options)
        ctx, events, pool = make_step_context(tmp_path, step_id=step_id, resources={"sftp": resource})
        pools.append(pool)
        return ctx, events

    yield make
    for pool in pools:
        pool.close_all()
