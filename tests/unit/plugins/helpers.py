"""Helpers of the plugin tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EventLog(list[tuple[str, dict[str, Any]]]):
    """Events emitted by the loader: (name, fields)."""

    def __call__(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        self.append((event, {"level": level, **fields}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self if event == name]


def write_plugin(directory: Path, name: str, source: str) -> Path:
    """Write a plugin file ``directory/name`` (parents created)."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def make_context(
    tmp_path: Path,
    registry: Any,
    *,
    step_type: str,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    hold_lock: Any = None,
) -> tuple[Any, Any]:
    """A real step context (job workspace under ``tmp_path/work``) whose steps and connectors come from ``registry``."""
    from tests.support.context import make_step_context

    ctx, _events, pool = make_step_context(
        tmp_path, step_type=step_type, resources=resources, env=env, hold_lock=hold_lock, registry=registry
    )
    return ctx, pool


def run_as_runner(registry: Any, ctx: Any, step_type: str, inputs: dict[str, Any]) -> Any:
    """Validate ``inputs`` with the registered class's model and run it, as the runner does."""
    from aetherflow.runner.context import validate_inputs

    cls = registry.step_class(step_type)
    return cls().run(validate_inputs(cls.inputs_model, ctx.step_id, inputs), ctx)
