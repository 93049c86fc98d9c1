"""The termination message: a one-line JSON summary of this invocation (docs/kubernetes.md).

Kubernetes shows the file ``AETHERFLOW_TERMINATION_LOG`` (``/dev/termination-log``) as the terminated container's
``state.terminated.message``, capped at 4096 bytes. The builders give the three shapes (INVALID, OVERLAP, run summary)
with their keys in spec order; ``write_termination_message`` fits a document into the cap and writes it only when the
file exists (outside Kubernetes it usually does not). Called by ``aetherflow.edge.entrypoint`` at every exit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from aetherflow.errors import ExitCode, retryable_for

log = logging.getLogger("aetherflow")

#: Kubernetes reads at most this many bytes of the termination message
MAX_BYTES = 4096
ELLIPSIS = "..."
_FAILED_STATUSES = ("FAILED", "INTERRUPTED")


def termination_from_summary(
    summary: Mapping[str, Any], *, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """The message of a run that got past the flow lock, from its run summary (docs/reference/observability.md)."""
    mask = redact or (lambda text: text)
    duration_ms = summary.get("duration_ms") or 0
    return {
        "run_id": summary.get("run_id"),
        "flow_id": summary.get("flow_id"),
        "status": summary.get("status"),
        "exit_code": summary.get("exit_code"),
        "retryable": retryable_for(summary.get("exit_code")),
        "attempt": summary.get("attempt"),
        "duration_seconds": round(float(duration_ms) / 1000, 3),
        "counts": dict(summary.get("status_counts") or {}),
        "failed": _failed_entries(summary.get("jobs") or (), mask),
    }


def termination_invalid(first_error: str, flow_id: str | None) -> dict[str, Any]:
    """The message of an input error (exit 2): no run exists; ``flow_id`` only when it was already known."""
    doc: dict[str, Any] = {}
    if flow_id is not None:
        doc["flow_id"] = flow_id
    doc.update(status="INVALID", exit_code=int(ExitCode.INVALID), retryable=None, error=first_error)
    return doc


def termination_fault(error: str, exit_code: int) -> dict[str, Any]:
    """The message of an invocation that an unexpected fault ended before a run summary existed."""
    status = "INVALID" if exit_code == ExitCode.INVALID else "FAILED"
    return {"status": status, "exit_code": int(exit_code), "retryable": retryable_for(exit_code), "error": error}


def termination_overlap(run_id: str, flow_id: str, error: str, exit_code: int = ExitCode.OVERLAP) -> dict[str, Any]:
    """The message of a run refused without a record (flow lock, or the run live elsewhere); ``error`` is the
    LockBusy text, ``exit_code`` the configured overlap code (0 or 75)."""
    return {
        "run_id": run_id,
        "flow_id": flow_id,
        "status": "OVERLAP",
        "exit_code": int(exit_code),
        "retryable": None,
        "error": error,
    }


def termination_interrupted_waiting(run_id: str, flow_id: str, error: str, exit_code: int) -> dict[str, Any]:
    """The message of an invocation stopped (SIGTERM/SIGINT) while it waited for another invocation of its run id:
    no record was written, and a later invocation resumes the run."""
    return {
        "run_id": run_id,
        "flow_id": flow_id,
        "status": "INTERRUPTED",
        "exit_code": int(exit_code),
        "retryable": retryable_for(exit_code),
        "error": error,
    }


def render_termination_message(doc: Mapping[str, Any], limit: int = MAX_BYTES) -> str:
    """``doc`` as one JSON line (newline included) of at most ``limit`` UTF-8 bytes.

    Too long: ``failed`` entries are dropped from the end (the first failure is kept), then error texts are shortened.
    """
    out: dict[str, Any] = dict(doc)
    if isinstance(out.get("failed"), list):
        out["failed"] = [dict(entry) if isinstance(entry, Mapping) else entry for entry in out["failed"]]
    text = _line(out)
    failed = out.get("failed")
    while _size(text) > limit and isinstance(failed, list) and len(failed) > 1:
        failed.pop()
        text = _line(out)
    for holder in _error_holders(out):
        if _size(text) <= limit:
            break
        error = holder.get("error")
        if not isinstance(error, str) or not error:
            continue
        holder["error"] = _shorten(error, _cost(error) - (_size(text) - limit))
        text = _line(out)
    if _size(text) > limit:
        # Only pathological ids can get here (ids are at most 128 characters): keep the line valid JSON anyway.
        minimal: dict[str, Any] = {k: out[k] for k in ("run_id", "flow_id", "status", "exit_code") if k in out}
        text = _line(minimal)
    return text


def write_termination_message(path: str, doc: Mapping[str, Any]) -> None:
    """Overwrite ``path`` with ``doc`` as one JSON line of at most 4096 bytes, only if the file exists; never raises."""
    if not path:
        return
    try:
        if not os.path.exists(path):
            return
        text = render_termination_message(doc)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except Exception as exc:  # noqa: BLE001 (the termination message must never change the exit code)
        log.debug("termination message not written to %s: %s", path, exc)


def _failed_entries(jobs: Any, mask: Callable[[str], str]) -> list[dict[str, Any]]:
    """FAILED/INTERRUPTED jobs in execution order, with the failing step and the first line of the error."""
    entries: list[dict[str, Any]] = []
    for job in jobs:
        if not isinstance(job, Mapping) or str(job.get("status")) not in _FAILED_STATUSES:
            continue
        step = _failing_step(job)
        error = (step.get("error") if step is not None else None) or job.get("error")
        entries.append(
            {
                "job_id": job.get("job_id"),
                "step_id": step.get("step_id") if step is not None else None,
                "error": mask(_first_line(error)) if error is not None else None,
            }
        )
    return entries


def _failing_step(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for step in job.get("steps") or ():
        if isinstance(step, Mapping) and str(step.get("status")) in _FAILED_STATUSES:
            return step
    return None


def _first_line(error: object) -> str:
    text = str(error)
    return text.splitlines()[0] if text.strip() else text.strip()


def _error_holders(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Dicts whose ``error`` may be shortened: the top-level one, then each kept ``failed`` entry."""
    holders = [doc]
    failed = doc.get("failed")
    if isinstance(failed, list):
        holders += [entry for entry in failed if isinstance(entry, dict)]
    return holders


def _shorten(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose JSON form costs at most ``max_bytes`` bytes, ending with ``...``."""
    budget = max_bytes - len(ELLIPSIS)
    if budget <= 0:
        return ""
    # JSON escapes (quotes, backslashes, control characters) cost more than their UTF-8 size, so search the
    # prefix length instead of cutting bytes: the cost only grows with the length.
    low, high = 0, min(len(text), budget)
    while low < high:
        mid = (low + high + 1) // 2
        if _cost(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low] + ELLIPSIS


def _cost(text: str) -> int:
    """Bytes ``text`` takes inside a JSON line (without its quotes)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _line(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, default=str) + "\n"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
