"""The typed Plan a validated flow becomes, and the Report validation returns (the ``validate --json`` document).

Everything here is immutable except ``Report``, whose lists the pipeline fills phase by phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aetherflow.api import RetryPolicy
from aetherflow.conditions import Condition
from aetherflow.errors import Issue
from aetherflow.spec.model import ResourceModel
from aetherflow.spec.profiles import Profiles


@dataclass(frozen=True)
class StepSpec:
    """One step as the runner executes it; ``inputs``/``outputs`` are raw (rendered just before/after the step)."""

    id: str
    type: str
    index: int
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    on_no_data: str | None
    retry: RetryPolicy | None
    timeout_seconds: float | None

    @classmethod
    def from_validated(cls, index: int, step: Mapping[str, Any]) -> StepSpec:
        """The spec of one schema-validated step (``retry`` becomes a RetryPolicy)."""
        return cls(
            id=step["id"],
            type=step["type"],
            index=index,
            inputs=step["inputs"],
            outputs=step["outputs"],
            on_no_data=step["on_no_data"],
            retry=_retry_policy(step["retry"]),
            timeout_seconds=step["timeout_seconds"],
        )


@dataclass(frozen=True)
class JobSpec:
    """One job: ``depends_on`` without duplicates (order kept), its trigger rule, the parsed ``when`` and its steps."""

    id: str
    index: int
    description: str | None
    depends_on: tuple[str, ...]
    trigger: Literal["all_success", "all_done", "one_failed"]
    when: Condition
    when_text: str | None
    steps: tuple[StepSpec, ...]

    @classmethod
    def from_validated(cls, index: int, job: Mapping[str, Any], when: Condition) -> JobSpec:
        """The spec of one schema-validated job whose ``when`` parsed to ``when``."""
        return cls(
            id=job["id"],
            index=index,
            description=job["description"],
            depends_on=tuple(dict.fromkeys(job["depends_on"])),
            trigger=job["trigger"],
            when=when,
            when_text=job["when"],
            steps=tuple(StepSpec.from_validated(j, step) for j, step in enumerate(job["steps"])),
        )


@dataclass(frozen=True)
class FlowMeta:
    """The ``flow`` block rendered with the env root (CLI/setting overrides are applied by the caller)."""

    flow_id: str
    description: str | None
    work_root: str
    cleanup_policy: str
    layout: Mapping[str, str]
    state_backend: str
    state_path: str
    locks_scope: str
    locks_ttl_seconds: int
    #: the IANA zone of ``run.date``: ``flow.timezone``, else AETHERFLOW_TIMEZONE, else UTC (checked by validation)
    timezone: str = "UTC"


@dataclass(frozen=True)
class Plan:
    """A validated flow: metadata, jobs in execution order, resources as written, profiles and warnings."""

    flow_path: str
    flow_sha256: str
    meta: FlowMeta
    jobs: tuple[JobSpec, ...]
    declared_job_ids: tuple[str, ...]
    resources: Mapping[str, ResourceModel]
    profiles: Profiles
    warnings: tuple[Issue, ...]

    def job(self, job_id: str) -> JobSpec:
        """The job called ``job_id`` (KeyError when absent)."""
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)


@dataclass
class Report:
    """What validation found: errors and warnings, each in phase order."""

    errors: list[Issue]
    warnings: list[Issue]
    flow_path: str

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The ``validate --json`` document (docs/reference/cli.md)."""
        return {
            "ok": self.ok,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
            "flow_yaml": self.flow_path,
        }


def _retry_policy(retry: Mapping[str, Any] | None) -> RetryPolicy | None:
    if retry is None:
        return None
    retry_on = retry.get("retry_on") or {}
    exceptions = retry_on.get("exceptions")
    exit_codes = retry_on.get("exit_codes")
    return RetryPolicy(
        max_attempts=retry["max_attempts"],
        backoff_seconds=float(retry["backoff_seconds"]),
        factor=float(retry["factor"]),
        max_delay_seconds=retry["max_delay_seconds"],
        retry_on_exceptions=tuple(exceptions) if exceptions is not None else None,
        retry_on_exit_codes=tuple(exit_codes) if exit_codes is not None else None,
    )
