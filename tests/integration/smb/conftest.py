"""Fixtures of the SMB step tests: a step context whose ``share`` resource points at the session's real smbd,
through either connector (``smbclient`` or ``pysmb``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.servers.smb import SmbServer
from tests.support.context import RecordedEvents, make_step_context

StepEnv = tuple[Any, RecordedEvents]


def smb_resource(server: SmbServer, driver: str, **config: Any) -> ResolvedResource:
    """An ``smb:<driver>`` resource that logs in as the test user, with the test share as default share."""
    base = {
        "server": server.host,
        "port": server.port,
        "share": server.share,
        "username": server.user,
        "password": server.password,
    }
    return ResolvedResource(name="share", kind="smb", driver=driver, config={**base, **config}, options={"timeout": 5})


@pytest.fixture(params=["smbclient", "pysmb"])
def smb_step_env(
    request: pytest.FixtureRequest, tmp_path: Path, smb_server: SmbServer
) -> Iterator[Callable[..., StepEnv]]:
    """Factory: ``make(**config)`` -> (ctx, events) for each driver in turn; connectors closed afterwards."""
    pools: list[Any] = []

    def make(**config: Any) -> StepEnv:
        resource = smb_resource(smb_server, request.param, **config)
        ctx, events, pool = make_step_context(tmp_path, resources={"share": resource})
        pools.append(pool)
        return ctx, events

    yield make
    for pool in pools:
        pool.close_all()
