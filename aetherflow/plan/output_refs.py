"""What step templates read of steps and jobs, checked before anything runs (part of the template scan).

A template in a step's ``inputs`` or ``outputs`` may read:

* ``steps.S.K``: S must be an earlier step of the same job (in ``outputs`` also the step itself), and K one of the
  output keys its type declares (``Step.result_keys``; every step may also carry ``skipped`` and ``reason``);
* ``result.K`` in ``outputs``: K one of the step's own output keys;
* ``job.outputs.K``: K promoted by the ``outputs:`` of an earlier step of the job;
* ``jobs.J.outputs.K``: J a job that runs before this one, K promoted by one of J's steps.

A name that does not exist or has no value yet is ``template:unknown_reference``; a key the referenced step or job
never produces is ``template:unknown_output``; both say "did you mean" when a name is close. Output keys are not
checked where they are not known before the run: plugin steps (also one replacing a built-in), ``external.process``
whose ``outputs`` input is templated, ``with_lock`` whose inner type is templated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aetherflow.errors import Issue, TemplateSyntaxError
from aetherflow.plan.findings import Recorder
from aetherflow.plan.job_reads import NOT_A_DEPENDENCY, UNKNOWN_REFERENCE, job_read_finding
from aetherflow.plan.references import string_leaves
from aetherflow.plan.rules import LOCK_STEP, PROCESS_STEP, Semantics
from aetherflow.plan.shapes import MAX_INNER_DEPTH, ShapeLookup
from aetherflow.spec.load import did_you_mean
from aetherflow.templating import STEP_ROOTS, Token, has_template, parse

UNKNOWN_OUTPUT: Final = "template:unknown_output"
#: keys any step's output may carry: a step skipped because its job short-circuits is ``{skipped, reason}``
ALWAYS_KEYS: Final = frozenset({"skipped", "reason"})


@dataclass(frozen=True)
class _Step:
    """What later templates may read of one step."""

    id: str
    type: str
    keys: frozenset[str] | None  # its output keys; None: not known before it runs
    promotes: frozenset[str]  # the keys of its ``outputs:``


@dataclass(frozen=True)
class _Where:
    """The template being checked: its job, its step, its section and the leaf string's place."""

    job_index: int
    job_id: str
    step_index: int
    section: str  # "inputs" or "outputs"
    loc: str
    path: tuple[Any, ...]


class OutputReferences:
    """Checks what the step templates of one flow read of steps and jobs, and records what is wrong."""

    def __init__(self, rec: Recorder, shapes: ShapeLookup, semantics: Semantics) -> None:
        self.rec = rec
        self.shapes = shapes
        self.semantics = semantics
        self.jobs: dict[str, list[_Step]] = {}  # job id -> its steps (the first job of a duplicated id)

    def check_flow(self, raw: Mapping[str, Any]) -> None:
        """Check every step template of the flow document as written (after the schema phase passed)."""
        jobs: list[dict[str, Any]] = raw["jobs"]
        facts = [[self._facts(step) for step in job["steps"]] for job in jobs]
        for job, steps in zip(jobs, facts, strict=True):
            self.jobs.setdefault(job["id"], steps)
        for i, (job, steps) in enumerate(zip(jobs, facts, strict=True)):
            for j, step in enumerate(job["steps"]):
                for section in ("inputs", "outputs"):
                    value = step.get(section)
                    if not value:
                        continue
                    base, path = f"jobs[{i}].steps[{j}].{section}", ("jobs", i, "steps", j, section)
                    for leaf_path, leaf_loc, text in string_leaves(value, path, base):
                        where = _Where(i, job["id"], j, section, leaf_loc, leaf_path)
                        for token in _tokens(text):
                            self._token(token, where, steps)

    def _facts(self, step: Mapping[str, Any]) -> _Step:
        outputs = step.get("outputs")
        promotes = frozenset(str(k) for k in outputs) if isinstance(outputs, dict) else frozenset()
        return _Step(str(step["id"]), str(step["type"]), self._keys(step["type"], step.get("inputs"), 0), promotes)

    def _keys(self, step_type: Any, inputs: Any, depth: int) -> frozenset[str] | None:
        """The output keys of a step of ``step_type`` with ``inputs``; None when they are not known statically."""
        if not isinstance(step_type, str) or has_template(step_type) or depth > MAX_INNER_DEPTH:
            return None
        inputs = inputs if isinstance(inputs, dict) else {}
        if step_type == LOCK_STEP and self.shapes.registry.is_builtin_step(step_type):  # the inner step's output
            inner = inputs.get("step")
            return self._keys(inner.get("type"), inner.get("inputs"), depth + 1) if isinstance(inner, dict) else None
        keys = self.shapes.result_keys(step_type)
        if keys is None:
            return None
        if step_type == PROCESS_STEP:  # its ``outputs`` input is merged into the output mapping
            extra = inputs.get("outputs")
            if extra is None:
                extra = {}
            if not isinstance(extra, dict):
                return None
            keys = keys | {str(k) for k in extra}
        return keys | ALWAYS_KEYS

    def _token(self, token: Token, where: _Where, steps: list[_Step]) -> None:
        segments = token.path.split(".")
        if token.root == "steps" and len(segments) > 1:
            self._step_read(segments, where, steps)
        elif token.root == "result" and where.section == "outputs" and len(segments) > 1:
            own = steps[where.step_index] if where.step_index < len(steps) else None
            if own is not None:
                self._key(segments[1], own.keys, f"result (the output of step '{own.id}', type {own.type})", where)
        elif token.root == "job" and len(segments) > 2 and segments[1] == "outputs":
            promoted = frozenset().union(*(s.promotes for s in steps[: where.step_index]))
            self._key(segments[2], promoted, f"job.outputs (promoted by earlier steps of job '{where.job_id}')", where)
        elif token.root == "jobs" and len(segments) > 1:
            self._job_read(segments, where)

    def _step_read(self, segments: list[str], where: _Where, steps: list[_Step]) -> None:
        name = segments[1]
        index = next((n for n, s in enumerate(steps) if s.id == name), None)
        if index is None:
            msg = f"Unknown step in template: steps.{name}; job '{where.job_id}' has no step '{name}'"
            hint = did_you_mean(name, [s.id for s in steps]) or self._elsewhere(name)
            self._error(UNKNOWN_REFERENCE, msg + hint, where)
            return
        if index > where.step_index or (index == where.step_index and where.section == "inputs"):
            what = "itself" if index == where.step_index else f"step '{name}', which runs after it"
            msg = (
                f"Step '{steps[where.step_index].id}' reads steps.{name} in its {where.section}, but that is {what} "
                f"(no output yet): read an earlier step, or move '{name}' before it"
            )
            self._error(UNKNOWN_REFERENCE, msg, where)
            return
        if len(segments) > 2:
            target = steps[index]
            self._key(segments[2], target.keys, f"steps.{name} (type {target.type})", where)

    def _job_read(self, segments: list[str], where: _Where) -> None:
        name = segments[1]
        if name not in self.jobs:
            msg = f"Unknown job in template: jobs.{name}{did_you_mean(name, list(self.jobs))}"
            self._error(UNKNOWN_REFERENCE, msg, where)
            return
        if name not in self.semantics.ancestors.get(where.job_id, set()):
            section = f"jobs[{where.job_index}].steps[{where.step_index}].{where.section}"
            path = ("jobs", where.job_index, "steps", where.step_index, where.section)
            finding = job_read_finding(where.job_id, name, self.semantics.position, section, path)
            if finding.code != NOT_A_DEPENDENCY:
                self._error(finding.code, finding.msg, where)
                return
            self.rec.warn(finding.code, finding.loc, finding.msg, finding.path)  # at the section, as before
        if len(segments) > 3 and segments[2] == "outputs":
            promoted = frozenset().union(*(s.promotes for s in self.jobs[name]))
            self._key(segments[3], promoted, f"jobs.{name}.outputs (promoted by the steps of job '{name}')", where)

    def _key(self, key: str, keys: frozenset[str] | None, what: str, where: _Where) -> None:
        if keys is None or key in keys:
            return
        known = ", ".join(sorted(keys))
        msg = f"{what} has no output '{key}'{did_you_mean(key, sorted(keys))}; it has: [{known}]"
        self._error(UNKNOWN_OUTPUT, msg, where)

    def _error(self, code: str, msg: str, where: _Where) -> None:
        self.rec.add(True, Issue(code, where.loc, msg, line=self.rec.doc.line_of(where.path)))

    def _elsewhere(self, name: str) -> str:
        """A hint when ``name`` is a step of another job: ``steps`` reads the steps of the own job only."""
        for job_id, steps in self.jobs.items():
            if any(s.id == name for s in steps):
                return f" (it is a step of job '{job_id}': promote its output and read jobs.{job_id}.outputs.<key>)"
        return ""


def _tokens(text: str) -> Iterator[Token]:
    """The tokens of a step template; one that does not parse is reported by the template scan, not here."""
    if not has_template(text):
        return
    try:
        template = parse(text, STEP_ROOTS)
    except TemplateSyntaxError:
        return
    yield from template.tokens
