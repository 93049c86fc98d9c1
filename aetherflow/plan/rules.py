"""Semantic rules 1-16, in the order of the spec's table, plus the semantic warnings.

Rules run on the schema-validated flow (plain data with defaults filled in). Errors are recorded in rule order;
within the step rules (9-14) every step's findings of one rule come before any finding of the next rule.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aetherflow.conditions import Condition, WhenError, parse_when
from aetherflow.plan.findings import Finding, Recorder
from aetherflow.plan.graph import ancestors, execution_order, strongly_connected
from aetherflow.plan.job_reads import NOT_A_DEPENDENCY, job_read_finding
from aetherflow.plan.shapes import MAX_INNER_DEPTH, ShapeLookup, StepShape
from aetherflow.plan.usage import ResourceUsage
from aetherflow.registry import Registry
from aetherflow.spec.load import did_you_mean
from aetherflow.templating import has_template

#: archive drivers allowed in enterprise mode without a bundle manifest (docs/reference/plugins-and-bundles.md default)
DEFAULT_ARCHIVE_DRIVERS: Final = frozenset({"pyzipper", "zipfile"})
PROCESS_STEP: Final = "external.process"
LOCK_STEP: Final = "with_lock"
_LOG_MODES: Final = frozenset({"inherit", "capture", "file", "discard", "passthrough"})
_STEP_RULES: Final = (9, 10, 11, 12, 13, 14)


@dataclass(frozen=True)
class Semantics:
    """What the rules learnt that later phases and the plan need."""

    job_ids: frozenset[str]
    ancestors: Mapping[str, set[str]]  # job id -> its transitive dependencies
    conditions: Mapping[int, Condition]  # job index -> its parsed ``when`` (absent when it did not parse)
    position: Mapping[str, int]  # job id -> its place in the static execution order


class SemanticRules:
    """Phase 3 of one validation run."""

    def __init__(
        self, rec: Recorder, *, registry: Registry, enterprise: bool, archive_drivers: Collection[str]
    ) -> None:
        self.rec = rec
        self.registry = registry
        self.shapes = ShapeLookup(registry)
        self.enterprise = enterprise
        self.archive_drivers = archive_drivers
        self.job_ids: frozenset[str] = frozenset()

    def check(self, flow: Mapping[str, Any]) -> Semantics:
        """Run every rule on the schema-validated ``flow``."""
        meta, resources, jobs = flow["flow"], flow["resources"], flow["jobs"]
        if meta["state"]["backend"] == "file":
            self.rec.warn(
                "semantic:state_backend_unsupported",
                "flow.state.backend",
                "state.backend 'file' is not supported; SQLite is used",
                ("flow", "state", "backend"),
            )
        self.job_ids = frozenset(job["id"] for job in jobs)
        self._rules_resources(resources, ResourceUsage(jobs, self.registry))
        self._rules_ids(jobs)
        graph = self._rules_graph(jobs)
        found = ancestors(graph)
        ids = [job["id"] for job in jobs]
        position = {job_id: n for n, job_id in enumerate(execution_order(ids, graph))}
        self._rules_steps(jobs, resources)
        conditions = self._rules_when(jobs, found, position)
        return Semantics(self.job_ids, found, conditions, position)

    def _rules_resources(self, resources: Mapping[str, Any], usage: ResourceUsage) -> None:
        if self.enterprise:  # rule 1
            allowed = ", ".join(sorted(self.archive_drivers))
            for name, res in resources.items():
                if res["kind"] == "archive" and res["driver"] not in self.archive_drivers:
                    self.rec.error(
                        "semantic:enterprise_archive_driver",
                        f"resources.{name}.driver",
                        f"Enterprise mode requires archive driver in [{allowed}]; got '{res['driver']}'",
                        ("resources", name, "driver"),
                    )
        # rules 2 and 3 are errors on a used resource; on one no step uses they are warnings
        unknown: list[str] = []
        for name, res in resources.items():  # rule 2
            key = f"{res['kind']}:{res['driver']}"
            if not self.registry.has_connector(key):
                unknown.append(name)
                loaded = ", ".join(self.registry.connector_names())
                self._resource_finding(
                    usage.uses(name),
                    Finding(
                        "semantic:unknown_connector",
                        f"resources.{name}.driver",
                        f"Unknown connector: {key}. Loaded: [{loaded}]",
                        ("resources", name, "driver"),
                    ),
                )
        for name, res in resources.items():  # rule 3
            key = f"{res['kind']}:{res['driver']}"
            missing = None if name in unknown else self.registry.missing_extra(key)
            if missing is not None:
                module, extra = missing
                self._resource_finding(
                    usage.uses(name),
                    Finding(
                        "semantic:missing_extra",
                        f"resources.{name}.driver",
                        f"Connector {key} needs the optional dependency '{module}' (install aetherflow[{extra}])",
                        ("resources", name, "driver"),
                    ),
                )

    def _resource_finding(self, used: bool, finding: Finding) -> None:
        if used:
            self.rec.found(finding)
        else:
            self.rec.warn(finding.code, finding.loc, f"{finding.msg} (no step uses this resource)", finding.path)

    def _rules_ids(self, jobs: list[dict[str, Any]]) -> None:
        for job_id in _duplicates(job["id"] for job in jobs):  # rule 4
            self.rec.error("semantic:duplicate_job_id", "jobs", f"Duplicate job id: {job_id}", ("jobs",))
        for i, job in enumerate(jobs):  # rule 5
            for step_id in _duplicates(step["id"] for step in job["steps"]):
                self.rec.error(
                    "semantic:duplicate_step_id",
                    f"jobs[{i}].steps",
                    f"Duplicate step id in job '{job['id']}': {step_id}",
                    ("jobs", i, "steps"),
                )

    def _rules_graph(self, jobs: list[dict[str, Any]]) -> dict[str, set[str]]:
        """Rules 6-8; returns the dependency graph over known jobs without self-edges."""
        for i, job in enumerate(jobs):  # rule 6
            for dep in dict.fromkeys(job["depends_on"]):
                if dep not in self.job_ids:
                    self.rec.error(
                        "semantic:depends_on_unknown_job",
                        f"jobs[{i}].depends_on",
                        f"Job '{job['id']}' depends_on unknown job: {dep}",
                        ("jobs", i, "depends_on"),
                    )
        for i, job in enumerate(jobs):  # rule 7
            if job["id"] in job["depends_on"]:
                self.rec.error(
                    "semantic:self_dependency",
                    f"jobs[{i}].depends_on",
                    f"Job '{job['id']}' depends_on itself",
                    ("jobs", i, "depends_on"),
                )
        first: dict[str, int] = {}
        graph: dict[str, set[str]] = {}
        for i, job in enumerate(jobs):
            first.setdefault(job["id"], i)
            graph.setdefault(job["id"], set()).update(
                d for d in job["depends_on"] if d in self.job_ids and d != job["id"]
            )
        cycles = [sorted(c, key=first.__getitem__) for c in strongly_connected(graph) if len(c) > 1]
        for members in sorted(cycles, key=lambda c: first[c[0]]):  # rule 8
            i = first[members[0]]
            chain = " -> ".join([*members, members[0]])
            self.rec.error(
                "semantic:cycle", f"jobs[{i}].depends_on", f"Dependency cycle: {chain}", ("jobs", i, "depends_on")
            )
        return graph

    def _rules_steps(self, jobs: list[dict[str, Any]], resources: Mapping[str, Any]) -> None:
        """Rules 9-14 over every step, then the missing required inputs (a warning for legacy plugin steps)."""
        found: dict[int, list[Finding]] = {rule: [] for rule in _STEP_RULES}
        missing_inputs: list[tuple[Finding, bool]] = []
        for i, job in enumerate(jobs):
            for j, step in enumerate(job["steps"]):
                loc, path = f"jobs[{i}].steps[{j}]", ("jobs", i, "steps", j)
                for rule, finding in self._step_findings(step, loc, path, resources):
                    if rule is None:
                        missing_inputs.append((finding, self.shapes.is_legacy(step["type"])))
                    else:
                        found[rule].append(finding)
        for rule in _STEP_RULES:
            for finding in found[rule]:
                self.rec.found(finding)
        for finding, legacy in missing_inputs:
            # a legacy plugin step declares only names, checked when it runs: there it stays a warning
            if legacy:
                self.rec.warn(finding.code, finding.loc, finding.msg, finding.path)
            else:
                self.rec.found(finding)

    def _step_findings(
        self, step: Mapping[str, Any], loc: str, path: tuple[Any, ...], resources: Mapping[str, Any]
    ) -> Iterator[tuple[int | None, Finding]]:
        """``(rule, finding)`` for one step; rule None is a missing required input."""
        step_type, inputs = step["type"], step["inputs"]
        if not self.registry.has_step(step_type):
            msg = self._unknown_type(step_type)
            yield 9, Finding("semantic:unknown_step_type", f"{loc}.type", msg, (*path, "type"))
            return
        missing = self.registry.missing_step_extra(step_type)
        if missing is not None:
            module, extra = missing
            msg = f"Step {step_type} needs the optional dependency '{module}' (install aetherflow[{extra}])"
            yield 9, Finding("semantic:missing_extra", f"{loc}.type", msg, (*path, "type"))
        shape = self.shapes.get(step_type)
        iloc, ipath = f"{loc}.inputs", (*path, "inputs")
        if shape is not None:
            yield from ((10, f) for f in shape.extra_keys(inputs, iloc, ipath))
            absent = [shown for shown, accepted in shape.required if not accepted & inputs.keys()]
            if step_type == PROCESS_STEP:  # rule 11 names a missing command already
                absent = [shown for shown in absent if shown != "command"]
            if absent:
                msg = f"Step {step['id']} missing inputs: {absent}"
                yield None, Finding("semantic:missing_required_input", iloc, msg, ipath)
        if step_type == PROCESS_STEP:
            yield from ((11, f) for f in process_findings(inputs, iloc, ipath))
        if step_type == LOCK_STEP:
            yield from ((12, f) for f in self._inner_findings(inputs, iloc, ipath, 0))
        if shape is not None and shape.takes_resource:
            yield from _resource_findings(shape, step_type, inputs, iloc, ipath, resources)

    def _rules_when(
        self, jobs: list[dict[str, Any]], deps: Mapping[str, set[str]], position: Mapping[str, int]
    ) -> dict[int, Condition]:
        conditions: dict[int, Condition] = {}
        unknown: list[tuple[int, str]] = []
        for i, job in enumerate(jobs):  # rule 15
            try:
                condition = parse_when(job["when"])
            except WhenError as exc:
                self.rec.error("semantic:invalid_when", f"jobs[{i}].when", exc.message, ("jobs", i, "when"))
                continue
            conditions[i] = condition
            unknown.extend((i, ref) for ref in sorted(condition.job_refs()) if ref not in self.job_ids)
        for i, ref in unknown:  # rule 16
            hint = did_you_mean(ref, sorted(self.job_ids))
            self.rec.error(
                "semantic:when_unknown_job", f"jobs[{i}].when", f"Unknown job in when: {ref}{hint}", ("jobs", i, "when")
            )
        for i, condition in conditions.items():
            job_id = jobs[i]["id"]
            for ref in sorted(condition.job_refs()):
                if ref not in self.job_ids or ref in deps.get(job_id, set()):
                    continue
                # a job that runs later has no status yet: an error; an earlier one that is not a dependency
                # has one in a full run (upstream's demos rely on declaration order): a warning
                finding = job_read_finding(job_id, ref, position, f"jobs[{i}].when", ("jobs", i, "when"))
                if finding.code == NOT_A_DEPENDENCY:
                    self.rec.warn(finding.code, finding.loc, finding.msg, finding.path)
                else:
                    self.rec.found(finding)
        return conditions

    def _unknown_type(self, step_type: Any) -> str:
        return f"Unknown step type: {step_type}. Loaded: [{', '.join(self.registry.step_names())}]"

    def _inner_findings(
        self, inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...], depth: int
    ) -> Iterator[Finding]:
        """Rule 12: the step a ``with_lock`` wraps (and the steps those wrap) has a known type and known keys."""
        inner = inputs.get("step")
        if not isinstance(inner, dict) or depth > MAX_INNER_DEPTH:
            return
        inner_type = inner.get("type")
        if not isinstance(inner_type, str) or has_template(inner_type):
            return
        if not self.registry.has_step(inner_type):
            msg = self._unknown_type(inner_type)
            yield Finding("semantic:unknown_step_type", f"{loc}.step.type", msg, (*path, "step", "type"))
            return
        inner_inputs = inner.get("inputs")
        if not isinstance(inner_inputs, dict):
            return
        iloc, ipath = f"{loc}.step.inputs", (*path, "step", "inputs")
        shape = self.shapes.get(inner_type)
        if shape is not None:
            yield from shape.extra_keys(inner_inputs, iloc, ipath)
        if inner_type == LOCK_STEP:
            yield from self._inner_findings(inner_inputs, iloc, ipath, depth + 1)


def _duplicates(ids: Iterator[str]) -> list[str]:
    """The ids seen more than once, sorted."""
    counts: dict[str, int] = {}
    for item in ids:
        counts[item] = counts.get(item, 0) + 1
    return sorted(item for item, n in counts.items() if n > 1)


def _resource_findings(
    shape: StepShape,
    step_type: str,
    inputs: Mapping[Any, Any],
    loc: str,
    path: tuple[Any, ...],
    resources: Mapping[str, Any],
) -> Iterator[tuple[int, Finding]]:
    """Rules 13 (the resource exists) and 14 (it is of the kind the step needs)."""
    # zip/unzip also take the resource as ``connector`` (docs/reference/steps/archive.md)
    keys = ("resource",) if "resource" in inputs else ("connector",)
    for key in keys:
        name = inputs.get(key)
        if not isinstance(name, str) or has_template(name):
            continue
        rloc, rpath = f"{loc}.{key}", (*path, key)
        if name not in resources:
            msg = f"Unknown resource: {name}. Known: [{', '.join(sorted(resources))}]"
            yield 13, Finding("semantic:unknown_resource", rloc, msg, rpath)
        elif shape.resource_kind and resources[name]["kind"] != shape.resource_kind:
            msg = (
                f"Resource '{name}' is kind={resources[name]['kind']}, step {step_type} "
                f"needs kind={shape.resource_kind}"
            )
            yield 14, Finding("semantic:resource_kind_mismatch", rloc, msg, rpath)


def process_findings(inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...]) -> Iterator[Finding]:
    """Rule 11: static checks of ``external.process`` inputs (docs/reference/steps/process.md); templates pass."""
    if "command" not in inputs or inputs["command"] is None:
        msg = "external.process requires inputs.command"
        yield Finding("semantic:external_process_missing_command", f"{loc}.command", msg, (*path, "command"))
        return
    if not isinstance(inputs["command"], str | list):
        msg = "external.process inputs.command must be a string or list"
        yield Finding("semantic:external_process_command_type", f"{loc}.command", msg, (*path, "command"))
    log = inputs.get("log")
    if isinstance(log, dict):
        yield from _log_findings(log, loc, path)
    idempotency = inputs.get("idempotency")
    if (
        isinstance(idempotency, dict)
        and idempotency.get("strategy") == "atomic_dir"
        and not (idempotency.get("temp_output_dir") and idempotency.get("final_output_dir"))
    ):
        msg = "atomic_dir requires temp_output_dir and final_output_dir"
        yield Finding("semantic:external_process_atomic_dir", f"{loc}.idempotency", msg, (*path, "idempotency"))


def _log_findings(log: Mapping[Any, Any], loc: str, path: tuple[Any, ...]) -> Iterator[Finding]:
    modes: list[str] = []
    for stream in ("stdout", "stderr"):
        mode = log.get(stream)
        if mode is None or (isinstance(mode, str) and has_template(mode)):
            continue
        if isinstance(mode, str) and mode in _LOG_MODES:
            modes.append(mode)
            continue
        msg = f"Unknown log mode: {mode}"
        yield Finding("semantic:external_process_log_mode", f"{loc}.log.{stream}", msg, (*path, "log", stream))
    if "file" in modes and not log.get("file_path"):
        msg = "log.file_path is required when stdout/stderr mode is 'file'"
        yield Finding("semantic:external_process_log_file", f"{loc}.log.file_path", msg, (*path, "log", "file_path"))
