"""Fixtures of the mail tests: a step context whose ``mail`` resource points at the session's aiosmtpd servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.spec.resources import ResolvedResource
from tests.servers.smtp import SmtpServers
from tests.support.context import RecordedEvents, make_step_context

StepEnv = tuple[Any, RecordedEvents]


@pytest.fixture
def mail_step_env(tmp_path: Path, smtp_server: SmtpServers) -> Iterator[Callable[..., StepEnv]]:
    """Factory ``make(config=..., options=...)`` -> (ctx, events); the default resource uses STARTTLS + AUTH."""
    pools: list[Any] = []

    def make(*, config: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> StepEnv:
        base = {
            "host": smtp_server.host,
            "port": smtp_server.starttls_port,
            "starttls": True,
            "username": smtp_server.user,
            "password": smtp_server.password,
            "from_addr": "AetherFlow <runner@example.test>",
        }
        resource = ResolvedResource(
            name="mailer",
            kind="mail",
            driver="smtp",
            config={**base, **(config or {})},
            options={"timeout": 10, "verify_ssl": str(smtp_server.ca_file), **(options or {})},
        )
        ctx, events, pool = make_step_context(tmp_path, resources={"mailer": resource})
        pools.append(pool)
        return ctx, events

    yield make
    for pool in pools:
        pool.close_all()
