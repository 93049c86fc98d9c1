"""How a run ends outside the runner: invalid input (one line, exit 2), an unhandled fault, the termination message.

Input errors are reported once, where they are found, and carried out to ``entrypoint.main`` as ``Invalid``, which
writes the termination message; nothing is created before an input error stops the process.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from aetherflow.errors import AetherFlowError, ExitCode, InputError, error_text

if TYPE_CHECKING:
    from aetherflow.redaction import Redactor
    from aetherflow.runner.engine import RunOutcome

log = logging.getLogger("aetherflow")
Mask = Callable[[str], str]
_T = TypeVar("_T")


class Invalid(Exception):
    """Internal: an input error already reported; carries the termination-message fields."""

    def __init__(self, first_error: str, flow_id: str | None = None) -> None:
        super().__init__(first_error)
        self.first_error = first_error
        self.flow_id = flow_id


def checked(check: Callable[[], _T], flow_id: str | None = None) -> _T:
    """``check()``, with an input error reported as every input error of a run is (one line, exit 2)."""
    try:
        return check()
    except InputError as exc:
        report_invalid(str(exc), flow_id)
        raise


def print_invalid(target: object, errors: Iterable[object], warnings: Iterable[object], mask: Mask) -> None:
    """The ``INVALID: <target>`` block on stderr: ``- <error>`` and ``! <warning>`` lines, each masked."""
    lines = [f"INVALID: {target}"]
    lines += [f"- {mask(str(issue))}" for issue in errors]
    lines += [f"! {mask(str(issue))}" for issue in warnings]
    print("\n".join(lines), file=sys.stderr)


def report_invalid(message: str, flow_id: str | None) -> None:
    """One ``error:`` line on stderr, then ``Invalid`` out to the process main."""
    print(f"error: {message}", file=sys.stderr)
    raise Invalid(message, flow_id)


def fault(exc: Exception, redactor: Redactor, termination_log: str) -> int:
    """An error no stage handled: one line on stderr, the termination message, the traceback only at DEBUG."""
    import traceback

    from aetherflow.edge.summary import termination_fault

    known = isinstance(exc, AetherFlowError)
    text = (redactor.mask(str(exc) if known else f"internal error: {error_text(exc)}").splitlines() or [""])[0]
    code = int(exc.exit_code) if isinstance(exc, AetherFlowError) else int(ExitCode.FAILED)
    print(f"error: {text}", file=sys.stderr)
    log.debug("unhandled error\n%s", redactor.mask("".join(traceback.format_exception(exc))))
    write_termination(termination_log, termination_fault(text, code))
    return code


def termination_for(outcome: RunOutcome, redactor: Redactor) -> dict[str, Any]:
    """The termination message of a finished (or overlapping) run, masked."""
    from aetherflow.edge.summary import termination_from_summary, termination_interrupted_waiting, termination_overlap

    if outcome.interrupted_waiting is not None:  # stopped while waiting for another invocation: nothing recorded
        error = redactor.mask(outcome.interrupted_waiting)
        return termination_interrupted_waiting(outcome.run_id, outcome.flow_id, error, int(outcome.exit_code))
    if outcome.overlap is not None:
        error = redactor.mask(error_text(outcome.overlap))
        return termination_overlap(outcome.run_id, outcome.flow_id, error, int(outcome.exit_code))
    doc = dict(outcome.summary)
    doc["status"], doc["exit_code"] = outcome.status, int(outcome.exit_code)
    return termination_from_summary(redactor.mask_obj(doc))


def termination_invalid(first_error: str, flow_id: str | None) -> dict[str, Any]:
    """The termination message of invalid input."""
    from aetherflow.edge.summary import termination_invalid as invalid

    return invalid(first_error, flow_id)


def write_termination(path: str, doc: dict[str, Any]) -> None:
    """Write the termination message (where the file exists)."""
    from aetherflow.edge.summary import write_termination_message

    write_termination_message(path, doc)
