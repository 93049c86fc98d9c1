"""A flow as a picture: its jobs, dependencies, ``when`` conditions and trigger rules in Mermaid or Graphviz DOT.

Pure text rendering (docs/on-call.md): the same jobs and statuses always give byte-identical output. Job ids and
``when`` texts are user data, so none of it reaches the output as syntax: node ids are generated (``j<index>_<ascii
slug>``), and every label is encoded for its language (Mermaid entity codes, DOT string escapes), after control and
format characters were made visible — a label can neither end its own string nor start a new node, edge or block.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_TRIGGER", "FORMATS", "STATUS_STYLES", "GraphJob", "StatusStyle", "render"]

FORMATS: Final = ("mermaid", "dot")
DEFAULT_TRIGGER: Final = "all_success"
NO_RECORD: Final = "no record"


@dataclass(frozen=True, slots=True)
class GraphJob:
    """One job as drawn: its id, the jobs it depends on, its ``when`` text and its trigger rule."""

    id: str
    depends_on: tuple[str, ...]
    when: str | None = None
    trigger: str = DEFAULT_TRIGGER


@dataclass(frozen=True, slots=True)
class StatusStyle:
    """How one status is drawn, and its legend entry."""

    name: str  # the class name in the output
    label: str
    fill: str
    stroke: str
    dashed: bool = False


#: every status a job can have in a run, in legend order; a job without a record is drawn as "no record"
STATUS_STYLES: Final[Mapping[str, StatusStyle]] = {
    "SUCCESS": StatusStyle("st_success", "SUCCESS", "#d3f9d8", "#2b8a3e"),
    "FAILED": StatusStyle("st_failed", "FAILED", "#ffe3e3", "#c92a2a"),
    "SKIPPED": StatusStyle("st_skipped", "SKIPPED", "#f1f3f5", "#868e96"),
    "BLOCKED": StatusStyle("st_blocked", "BLOCKED", "#fff3bf", "#e67700"),
    "RUNNING": StatusStyle("st_running", "RUNNING", "#d0ebff", "#1864ab"),
    NO_RECORD: StatusStyle("st_norecord", NO_RECORD, "#ffffff", "#adb5bd", dashed=True),
}

_SLUG_MAX: Final = 32
_NOT_SLUG: Final = re.compile(r"[^A-Za-z0-9]+")
# characters a Mermaid quoted label may carry as they are; every other one becomes an entity code
_MERMAID_PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:=()'!-")
_WHITESPACE: Final = re.compile(r"\s+")


def render(jobs: Sequence[GraphJob], fmt: str, statuses: Mapping[str, str] | None = None) -> str:
    """The graph of ``jobs`` (in the order given) in ``fmt``; with ``statuses`` (job id -> status of one run), every
    job is coloured by its status ("no record" when it has none) and a legend is added."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}")
    ids = _node_ids(jobs)
    lines = _mermaid(jobs, ids, statuses) if fmt == "mermaid" else _dot(jobs, ids, statuses)
    return "\n".join(lines) + "\n"


def visible(text: str) -> str:
    """``text`` on one line as a reader should see it: whitespace runs as one space, control and format characters
    (ESC, NUL, a right-to-left override ...) as ``\\xNN``/``\\uNNNN``."""
    out = []
    for ch in _WHITESPACE.sub(" ", text).strip():
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _node_ids(jobs: Sequence[GraphJob]) -> list[str]:
    """A safe, unique identifier per job: its position, then the ASCII letters and digits of its id."""
    ids = []
    for number, job in enumerate(jobs):
        slug = _NOT_SLUG.sub("_", job.id).strip("_")[:_SLUG_MAX].rstrip("_")
        ids.append(f"j{number}_{slug}" if slug else f"j{number}")
    return ids


def _label_lines(job: GraphJob, statuses: Mapping[str, str] | None) -> list[str]:
    lines = [visible(job.id)]
    if job.when is not None:
        lines.append(f"when: {visible(job.when)}")
    if job.trigger != DEFAULT_TRIGGER:
        lines.append(f"trigger: {visible(job.trigger)}")
    if statuses is not None:
        lines.append(visible(statuses.get(job.id, NO_RECORD)))
    return lines


def _style(job_id: str, statuses: Mapping[str, str]) -> StatusStyle:
    return STATUS_STYLES.get(statuses.get(job_id, NO_RECORD), STATUS_STYLES[NO_RECORD])


def _edges(jobs: Sequence[GraphJob], ids: Sequence[str]) -> Iterable[tuple[str, str, bool]]:
    """(from, to, plain) per dependency; ``plain`` is False into a job whose trigger rule is not the default."""
    first: dict[str, str] = {}
    for job, node in zip(jobs, ids, strict=True):
        first.setdefault(job.id, node)
    for job, node in zip(jobs, ids, strict=True):
        for dep in job.depends_on:
            if dep in first:
                yield first[dep], node, job.trigger == DEFAULT_TRIGGER


# ------------------------------------------------------------------------------------------------ Mermaid


def _mermaid_text(text: str) -> str:
    # entity codes (#NNN;) are Mermaid's own escape inside a quoted label: no quote, bracket, pipe, '#', '<' or
    # non-ASCII character reaches the parser, and the renderer shows each as the character itself
    return "".join(ch if ch in _MERMAID_PLAIN else f"#{ord(ch)};" for ch in text)


def _mermaid(jobs: Sequence[GraphJob], ids: Sequence[str], statuses: Mapping[str, str] | None) -> list[str]:
    lines = ["flowchart TD"]
    for job, node in zip(jobs, ids, strict=True):
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(job, statuses))
        lines.append(f'  {node}["{label}"]')
    for source, target, plain in _edges(jobs, ids):
        lines.append(f"  {source} {'-->' if plain else '-.->'} {target}")
    if statuses is None:
        return lines
    lines.extend(_mermaid_legend())
    for style in STATUS_STYLES.values():
        dash = ",stroke-dasharray:5 5" if style.dashed else ""
        lines.append(f"  classDef {style.name} fill:{style.fill},stroke:{style.stroke},color:#000000{dash}")
    for job, node in zip(jobs, ids, strict=True):
        lines.append(f"  class {node} {_style(job.id, statuses).name}")
    return lines


def _mermaid_legend() -> list[str]:
    lines = ['  subgraph legend["Legend"]', "    direction LR"]
    for style in STATUS_STYLES.values():
        lines.append(f'    legend_{style.name}["{_mermaid_text(style.label)}"]')
    lines.append("  end")
    lines.extend(f"  class legend_{style.name} {style.name}" for style in STATUS_STYLES.values())
    return lines


# ------------------------------------------------------------------------------------------------ Graphviz DOT


def _dot_text(text: str) -> str:
    # inside a DOT string only '"' and '\' are syntax; Graphviz also reads '&...;' entities in labels, so '&' is
    # written as one to stay literal
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def _dot_style(style: StatusStyle) -> str:
    shape = "rounded,filled,dashed" if style.dashed else "rounded,filled"
    return f'style="{shape}", fillcolor="{style.fill}", color="{style.stroke}"'


def _dot(jobs: Sequence[GraphJob], ids: Sequence[str], statuses: Mapping[str, str] | None) -> list[str]:
    lines = ["digraph flow {", "  rankdir=TB;", '  node [shape=box, style="rounded"];']
    for job, node in zip(jobs, ids, strict=True):
        label = "\\n".join(_dot_text(line) for line in _label_lines(job, statuses))
        extra = f", {_dot_style(_style(job.id, statuses))}" if statuses is not None else ""
        lines.append(f'  {node} [label="{label}"{extra}];')
    for source, target, plain in _edges(jobs, ids):
        lines.append(f"  {source} -> {target};" if plain else f"  {source} -> {target} [style=dashed];")
    if statuses is not None:
        lines.extend(["  subgraph cluster_legend {", '    label="Legend";'])
        for style in STATUS_STYLES.values():
            lines.append(f'    legend_{style.name} [label="{_dot_text(style.label)}", {_dot_style(style)}];')
        lines.append("  }")
    lines.append("}")
    return lines
