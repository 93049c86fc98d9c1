"""The human views of ``runs show`` and ``runs list``: tables in execution order, durations, wrapped errors.

Every value printed here comes from the state database, so it is treated as hostile: control characters are
escaped (a newline or an ANSI sequence in an error must not break the layout or drive the terminal) and wide
characters are measured by their display width.
"""

from __future__ import annotations

import json
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH = 120  # an on-call terminal; the table and the wrapped errors stay within it
_ID_MAX = 32
_REASON_MAX = 36
_OUTPUTS_MAX = 60
_COLOURS = {"SUCCESS": "32", "FAILED": "31", "BLOCKED": "33", "INTERRUPTED": "35", "RUNNING": "36", "SKIPPED": "2"}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of a step's attempt history."""

    job_id: str
    step_id: str
    attempt: int
    status: str
    started_at: str
    ended_at: str | None
    error: str | None


def attempts_of(rows: Iterable[Sequence[Any]]) -> list[Attempt]:
    """The store's attempt rows (``StateStore.load_attempts``) as ``Attempt`` records."""
    return [Attempt(*row) for row in rows]


def escape(text: str) -> str:
    """``text`` on one line: control characters (newline, tab, ESC, NUL, …) shown as escapes, others kept."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def width(text: str) -> int:
    """Display width in a terminal: wide (CJK, emoji) characters take two cells, combining marks none."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def clip(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` display cells, ending with ``…`` when cut."""
    if width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        cells = width(ch)
        if used + cells > limit - 1:
            break
        out.append(ch)
        used += cells
    return "".join(out) + "…"


def wrap(text: str, indent: str) -> list[str]:
    """``text`` escaped and wrapped to lines of at most :data:`WIDTH` cells, nothing left out, each after ``indent``."""
    room = WIDTH - len(indent)
    lines: list[str] = []
    parts = [
        part
        for line in text.split("\n")  # a multi-line error keeps its lines; every other control character is escaped
        for part in textwrap.wrap(escape(line), room, break_long_words=True, break_on_hyphens=False) or [""]
    ]
    for part in parts:
        # textwrap counts characters: a wide character may need a further split by cells
        while width(part) > room:
            cut = len(clip(part, room + 1)) - 1
            lines.append(indent + part[:cut])
            part = part[cut:]
        lines.append(indent + part)
    return lines


def table(header: list[str], rows: list[list[str]], *, colour: bool = False) -> str:
    """Columns two spaces apart, padded to the widest display width; the last column unpadded."""
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        cells = []
        for i, cell in enumerate(row):
            pad = "" if i == len(row) - 1 else " " * (widths[i] - width(cell))
            code = _COLOURS.get(cell) if colour and n > 0 and header[i] == "STATUS" else None
            cells.append(f"\x1b[{code}m{cell}\x1b[0m{pad}" if code else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def parse_ts(value: str | None) -> datetime | None:
    """A stored timestamp (``2025-03-01T02:00:00.123Z``), or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(started_at: str | None, ended_at: str | None) -> str:
    """``850ms``, ``12.3s``, ``4m05s``, ``2h03m``; ``-`` when not started or not ended."""
    start, end = parse_ts(started_at), parse_ts(ended_at)
    if start is None or end is None:
        return "-"
    return human_seconds(max(0.0, (end - start).total_seconds()))


def human_seconds(seconds: float) -> str:
    """A duration the way a person reads it (see :func:`duration`)."""
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    if round(seconds, 1) < 60:  # rounding must not print 60.0s
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def clock(value: str | None) -> str:
    """The time of day of a timestamp (``02:00:00.123``); the date is in the run's header line."""
    if not value:
        return "-"
    return escape(value[11:23]) if len(value) >= 23 and value[10] == "T" else escape(value)


def cell(value: Any) -> str:
    """A table cell: ``-`` for null, escaped text otherwise."""
    return "-" if value is None or value == "" else escape(str(value))


def outputs_cell(outputs: Any) -> str:
    """A step's or job's outputs as compact JSON, cut to fit a column."""
    if outputs is None:
        return "-"
    return clip(escape(json.dumps(outputs, ensure_ascii=False, separators=(",", ":"))), _OUTPUTS_MAX)


def show_text(
    run: Any,
    jobs: dict[str, Any],
    steps: dict[tuple[str, str], Any],
    *,
    wide: bool,
    colour: bool,
    attempts: list[Attempt] | None = None,
) -> str:
    """The run's header, one row per job and step in execution (record creation) order, then the full errors."""
    header = ["JOB/STEP", "STATUS", "ATTEMPTS", "DURATION", "STARTED", "SKIP_REASON"]
    if wide:
        header.append("OUTPUTS")
    rows: list[list[str]] = []
    errors: list[tuple[str, str]] = []
    for job_id, job in jobs.items():
        reason = job.skip_reason or (job.reason if job.status == "BLOCKED" else None)
        row = [
            clip(escape(job_id), _ID_MAX),
            job.status,
            "-",
            duration(job.started_at, job.ended_at),
            clock(job.started_at),
            clip(cell(reason), _REASON_MAX),
        ]
        rows.append([*row, outputs_cell(job.outputs or None)] if wide else row)
        job_errors: list[tuple[str, str]] = []
        for (owner, step_id), step in steps.items():
            if owner != job_id:
                continue
            name = clip("  " + escape(step_id), _ID_MAX)
            row = [
                name,
                step.status,
                str(step.attempts),
                duration(step.started_at, step.ended_at),
                clock(step.started_at),
                "-",
            ]
            rows.append([*row, outputs_cell(step.outputs)] if wide else row)
            if step.error:
                job_errors.append((f"{job_id}.{step_id}", step.error))
        # the job's error is usually its failed step's: printed once, under the step's name
        if job.error and job.status != "BLOCKED" and all(text != job.error for _, text in job_errors):
            job_errors.insert(0, (job_id, job.error))
        errors += job_errors
    lines = [_run_line(run), table(header, rows, colour=colour)]
    if wide and attempts:
        lines += ["", "attempts:"]
        for a in attempts:
            first = f"  {escape(a.job_id)}.{escape(a.step_id)} #{a.attempt} {a.status} "
            lines.append(clip(first + f"{duration(a.started_at, a.ended_at)} {clock(a.started_at)}", WIDTH))
            if a.error:
                lines += wrap(a.error, "      ")
    for name, text in errors:
        lines += ["", f"error {clip(escape(name), WIDTH - 6)}:", *wrap(text, "  ")]
    return "\n".join(lines)


def _run_line(run: Any) -> str:
    exit_code = "-" if run.exit_code is None else str(run.exit_code)
    parts = [
        f"run {escape(run.run_id)}",
        f"flow={escape(run.flow_id)}",
        f"status={run.status}",
        f"attempt={run.attempt}",
        f"exit={exit_code}",
        f"started={cell(run.started_at)}",
        f"duration={duration(run.started_at, run.ended_at)}",
    ]
    if run.bundle_fingerprint:
        parts.append(f"bundle={escape(run.bundle_fingerprint)}")
    return "\n".join(wrap(" ".join(parts), ""))


def list_text(runs: list[Any], *, wide: bool, colour: bool) -> str:
    """``runs list``: one row per run, newest first (the store's order)."""
    header = ["RUN_ID", "FLOW_ID", "STATUS", "ATTEMPT", "STARTED_AT", "ENDED_AT", "EXIT"]
    if wide:
        header += ["DURATION", "ERROR"]
    rows = []
    for r in runs:
        row = [
            clip(escape(r.run_id), _ID_MAX),
            clip(escape(r.flow_id), _ID_MAX),
            r.status,
            str(r.attempt),
            cell(r.started_at),
            cell(r.ended_at),
            cell(r.exit_code),
        ]
        if wide:
            row += [duration(r.started_at, r.ended_at), clip(cell(r.error), _OUTPUTS_MAX)]
        rows.append(row)
    return table(header, rows, colour=colour)
