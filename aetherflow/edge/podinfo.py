"""Run id and Kubernetes identity as the downward API provides them (docs/concepts/runs.md, docs/kubernetes.md).

The run id is, first match: ``--run-id``, ``AETHERFLOW_RUN_ID``, the Job name ``AETHERFLOW_JOB_NAME`` (every pod of one
Job resumes the same run), else a generated sortable id. A Job name reused by a new Job (another UID) gets
``<job name>.<uid8>`` so it never silently resumes someone else's run. Called by ``aetherflow.edge.entrypoint``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aetherflow.errors import InputError
from aetherflow.settings import Settings

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)
UID_PREFIX_LENGTH = 8


class RunIdMoved(Exception):  # a signal between two stages of one run, never shown
    """Once the run lock was held, the Job-UID check found the run taken by another Job of the same name.

    Two pods of two Jobs with one name can both derive the bare name before either has recorded its run; the one
    that gets the run lock second must not resume the other's run: it runs as ``run_id`` instead.
    """

    def __init__(self, run_id: str, previous_uid: str) -> None:
        super().__init__(run_id)
        self.run_id, self.previous_uid = run_id, previous_uid


@dataclass(frozen=True, slots=True)
class PodInfo:
    """The pod's identity from the downward-API settings (all optional outside Kubernetes)."""

    job_name: str | None = None
    job_uid: str | None = None
    pod_name: str | None = None
    namespace: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PodInfo:
        """``AETHERFLOW_JOB_NAME``, ``_JOB_UID``, ``_POD_NAME``, ``_NAMESPACE``; empty values count as unset."""
        return cls(
            job_name=settings.job_name or None,
            job_uid=settings.job_uid or None,
            pod_name=settings.pod_name or None,
            namespace=settings.namespace or None,
        )


def generate_run_id(now: datetime | None = None, suffix: str | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxxxx``: UTC time plus 8 random lowercase hex digits (sortable)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{suffix if suffix is not None else secrets.token_hex(4)}"


def check_run_id(run_id: str, source: str) -> str:
    """``run_id`` when it matches the run-id pattern, else ``InputError`` (settings:invalid) naming ``source``."""
    if not _RUN_ID.fullmatch(run_id):
        raise InputError(
            f"Invalid run id {run_id!r} from {source}: a run id is 1-128 characters of letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit ({RUN_ID_PATTERN})",
            loc=source,
        )
    return run_id


def derive_run_id(
    *,
    settings_run_id: str | None,
    cli_run_id: str | None,
    job_name: str | None,
    job_uid: str | None,
    lookup_previous_uid: Callable[[str], str | None],
    now: datetime | None = None,
) -> tuple[str, str | None]:
    """The run id of this invocation, and the previous Job UID when a reused Job name changed it.

    ``lookup_previous_uid(run_id)`` returns the Job UID stored with an existing run of this flow (``None`` when the
    run does not exist or has none). The second value is not ``None`` only when a ``run_id_reused`` warning is due.
    """
    if cli_run_id:
        return check_run_id(cli_run_id, "--run-id"), None
    if settings_run_id:
        return check_run_id(settings_run_id, "AETHERFLOW_RUN_ID"), None
    if not job_name:
        return generate_run_id(now), None
    run_id = check_run_id(job_name, "AETHERFLOW_JOB_NAME")
    if not job_uid:
        return run_id, None
    previous = lookup_previous_uid(run_id)
    if not previous or previous == job_uid:
        return run_id, None
    # The name belongs to an earlier, deleted Job: this Job's own pods must resume their own run, not that one.
    reused = check_run_id(f"{job_name}.{job_uid[:UID_PREFIX_LENGTH]}", "AETHERFLOW_JOB_NAME/AETHERFLOW_JOB_UID")
    return reused, previous
