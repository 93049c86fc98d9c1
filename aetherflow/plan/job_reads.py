"""Whether a job may read ``jobs.<id>`` of a job it does not depend on: one decision for templates and ``when``.

A job that comes later in the static execution order (or the job itself) has no status and no outputs yet when the
reader runs: ``template:unknown_reference``, an error. An earlier job that is not a (transitive) dependency has
them in a full run but may be missing with ``--flow-job``: only the warning ``semantic:not_a_dependency``, since
flows written for declaration order rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aetherflow.plan.findings import Finding

NOT_A_DEPENDENCY: Final = "semantic:not_a_dependency"
UNKNOWN_REFERENCE: Final = "template:unknown_reference"


def job_read_finding(reader: str, ref: str, position: Mapping[str, int], loc: str, path: tuple[Any, ...]) -> Finding:
    """The finding for job ``reader`` reading ``jobs.<ref>`` of a known job that is not among its dependencies."""
    if position.get(ref, 0) >= position.get(reader, 0):
        msg = (
            f"Job '{reader}' reads jobs.{ref}, which runs after it (no status yet): "
            f"add '{ref}' to depends_on of '{reader}', or read an earlier job"
        )
        return Finding(UNKNOWN_REFERENCE, loc, msg, path)
    return Finding(NOT_A_DEPENDENCY, loc, f"Job '{reader}' reads jobs.{ref} but does not depend on it", path)
