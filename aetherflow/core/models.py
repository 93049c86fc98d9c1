"""Upstream's settings and Flow YAML models (pydantic), for plugins written against aetherflow-core 0.0.14.

Plugins use them to type hints, to build a flow document in tests or to read settings from an env snapshot. They
describe the 0.0.14 document shape (the runner validates flows with its own schema, which accepts more); loaded on
first use of one of their names from ``aetherflow.core.api``, as they import pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.booleans import bool_word

__all__ = [
    "CleanupPolicy",
    "FlowMetaSpec",
    "FlowSpec",
    "JobSpec",
    "LockScope",
    "LocksSpec",
    "ResourceSpec",
    "Settings",
    "StateSpec",
    "StepSpec",
    "WorkspaceSpec",
]

CleanupPolicy = Literal["on_success", "always", "never"]
LockScope = Literal["none", "job", "flow"]


def _layout() -> dict[str, str]:
    return {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


class WorkspaceSpec(BaseModel):
    """``flow.workspace``: root directory, clean-up policy, sub-directory names."""

    root: str = "/tmp/work"
    cleanup_policy: CleanupPolicy = "on_success"
    layout: dict[str, str] = Field(default_factory=_layout)


class StateSpec(BaseModel):
    """``flow.state``: backend and path of the state store."""

    backend: Literal["sqlite", "file"] = "sqlite"
    path: str = "/tmp/state/aetherflow.sqlite"


class LocksSpec(BaseModel):
    """``flow.locks``: lock scope and time-to-live."""

    scope: LockScope = "job"
    ttl_seconds: int = 3600


class FlowMetaSpec(BaseModel):
    """The ``flow:`` block."""

    id: str
    description: str | None = None
    workspace: WorkspaceSpec = Field(default_factory=WorkspaceSpec)
    state: StateSpec = Field(default_factory=StateSpec)
    locks: LocksSpec = Field(default_factory=LocksSpec)


class ResourceSpec(BaseModel):
    """One entry of ``resources:`` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    driver: str
    profile: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    decode: dict[str, Any] = Field(default_factory=dict)


class StepSpec(BaseModel):
    """One step of a job."""

    id: str
    type: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    on_no_data: Literal["skip_job"] | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)


class JobSpec(BaseModel):
    """One job of the flow."""

    id: str
    description: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    when: str | None = None
    steps: list[StepSpec]


class FlowSpec(BaseModel):
    """A whole Flow YAML document."""

    version: int = 1
    flow: FlowMetaSpec
    resources: dict[str, ResourceSpec] = Field(default_factory=dict)
    jobs: list[JobSpec]


def _flag(value: str | None, default: bool) -> bool:
    # upstream's leniency, kept for 0.0.14 plugins: a word that is not a boolean reads as false, never an error
    return default if value is None else bool_word(value) is True


class Settings(BaseModel):
    """The 0.0.14 process settings; ``from_env`` reads an explicit env snapshot (never ``os.environ``)."""

    work_root: str = "/tmp/work"
    state_root: str = "/tmp/state"
    plugin_paths: list[str] = Field(default_factory=list)
    plugin_strict: bool = True
    strict_templates: bool = True
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_module: str | None = None
    connector_cache_default: str = "run"
    connector_cache_disabled: bool = False
    secrets_module: str | None = None
    secrets_path: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from the ``AETHERFLOW_*`` variables of ``env``, then ``overrides``."""
        data: dict[str, Any] = {
            "work_root": env.get("AETHERFLOW_WORK_ROOT") or "/tmp/work",
            "state_root": env.get("AETHERFLOW_STATE_ROOT") or "/tmp/state",
            "plugin_paths": [p.strip() for p in env.get("AETHERFLOW_PLUGIN_PATHS", "").split(",") if p.strip()],
            "plugin_strict": _flag(env.get("AETHERFLOW_PLUGIN_STRICT"), True),
            "strict_templates": _flag(env.get("AETHERFLOW_STRICT_TEMPLATES"), True),
            "log_level": env.get("AETHERFLOW_LOG_LEVEL") or "INFO",
            "log_format": env.get("AETHERFLOW_LOG_FORMAT") or "text",
            "metrics_module": env.get("AETHERFLOW_METRICS_MODULE") or None,
            "connector_cache_default": env.get("AETHERFLOW_CONNECTOR_CACHE_DEFAULT") or "run",
            "connector_cache_disabled": _flag(env.get("AETHERFLOW_CONNECTOR_CACHE_DISABLED"), False),
            "secrets_module": env.get("AETHERFLOW_SECRETS_MODULE") or None,
            "secrets_path": env.get("AETHERFLOW_SECRETS_PATH") or None,
        }
        data.update(overrides or {})
        return cls(**data)
