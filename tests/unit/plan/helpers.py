"""Helpers for validation tests: write a flow to a temporary file and validate it in-process."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aetherflow.api import Inputs, Step, StepContext, StepResult
from aetherflow.connectors import BUILTIN_CONNECTORS, REQUIRES
from aetherflow.errors import Issue
from aetherflow.plan import Plan, Report, validate_flow
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from aetherflow.steps import BUILTIN_STEPS


class QueryInputs(Inputs):
    """A db-kind plugin step used to exercise the resource rules without a real database step."""

    resource: str
    sql: str
    params: dict[str, Any] = {}


class Query(Step[QueryInputs]):
    inputs_model = QueryInputs
    resource_kind = "db"

    def run(self, inputs: QueryInputs, ctx: StepContext) -> StepResult:
        return StepResult.success(rows=0)


def make_registry(**extra_steps: Any) -> Registry:
    """The built-in catalogues plus a ``test_query`` step (kind db) and a ``db:fancy`` connector needing an extra."""
    steps: dict[str, Any] = {**BUILTIN_STEPS, "test_query": Query, **extra_steps}
    connectors: dict[str, Any] = {**BUILTIN_CONNECTORS, "db:fancy": "aetherflow.connectors.db:SqlAlchemyConnector"}
    requires = {**REQUIRES, "db:fancy": ("aetherflow_definitely_missing_module", "fancy")}
    return Registry(steps, connectors, requires)


def write_flow(directory: Path, text: str, name: str = "flow.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def check(
    directory: Path,
    text: str,
    *,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    **kwargs: Any,
) -> tuple[Report, Plan | None]:
    path = write_flow(directory, text)
    return validate_flow(
        str(path),
        settings=settings or Settings(),
        env=env if env is not None else {},
        registry=registry or make_registry(),
        **kwargs,
    )


def records(issues: list[Issue]) -> list[tuple[str, str, str, int | None]]:
    return [(i.code, i.loc, i.msg, i.line) for i in issues]


def codes(issues: list[Issue]) -> list[str]:
    return [i.code for i in issues]
