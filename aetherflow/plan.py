"""Validate a flow file and turn it into an immutable ``Plan`` (docs/reference/flow-yaml.md).

One pipeline serves ``validate``, ``doctor`` and the start of ``run``; the phases run in the spec's order and each
problem becomes an ``Issue`` (code, loc, msg, line, file):

1. YAML: read once, parsed with a node -> line index (``spec.load``); on failure nothing else runs.
2. Schema: strict types, defaults, unknown keys with "did you mean", ids (``spec.model``); on failure stop here.
3. Semantic rules 1-16 in the table order (connectors, ids, the ``depends_on`` graph, step types and input keys,
   ``external.process`` and ``with_lock`` checks, resources, ``when``) plus the semantic warnings.
4. Template scan: every templated section parsed with its phase's roots; missing env keys; reads of jobs that are
   not dependencies.
5. Profiles: the configured source loaded and checked; unknown profile names.

When no error was found, the flow block is rendered with the env root (``flow_id``, paths, lock settings) and jobs
are ordered topologically with declaration order as the tie-break. Step classes are resolved only for the step types
the flow uses, so validating a flow imports no more step modules than running it would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

from pydantic_core import ValidationError

from aetherflow.api import RetryPolicy
from aetherflow.conditions import Condition, WhenError, parse_when
from aetherflow.errors import InputError, Issue, SpecErrors, TemplateMissingKey, TemplateSyntaxError
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from aetherflow.spec.load import (
    YamlDocument,
    decode_text,
    did_you_mean,
    parse_yaml,
    read_source,
    schema_issues,
)
from aetherflow.spec.model import (
    ResourceModel,
    flow_schema,
    flow_validator,
    id_error_message,
    is_valid_id,
    layout_path_problem,
)
from aetherflow.spec.profiles import Profiles, load_profiles
from aetherflow.spec.resources import (
    ResolvedResource,
    decode_paths,
    deep_merge,
    merge_resource,
    register_secret_keys,
    replace_decode_target,
)
from aetherflow.templating import ENV_ROOTS, STEP_ROOTS, Template, has_template, parse, render

__all__ = [
    "DEFAULT_ARCHIVE_DRIVERS",
    "FlowMeta",
    "JobSpec",
    "Plan",
    "Report",
    "StepSpec",
    "build_plan",
    "execution_order",
    "validate_flow",
]

#: archive drivers allowed in enterprise mode without a bundle manifest (docs/reference/plugins-and-bundles.md default)
DEFAULT_ARCHIVE_DRIVERS: Final = frozenset({"pyzipper", "zipfile"})
PROCESS_STEP: Final = "external.process"
LOCK_STEP: Final = "with_lock"
_LOG_MODES: Final = frozenset({"inherit", "capture", "file", "discard", "passthrough"})
_DECODE_MSG: Final = "Decode target must be a standalone template token like '{{TOKEN}}' (no prefix/suffix)."
_MAX_INNER_DEPTH: Final = 8


# ------------------------------------------------------------------------------------------------ plan types


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


@dataclass(frozen=True)
class JobSpec:
    """One job: ``depends_on`` without duplicates (order kept), the parsed ``when`` and its steps in order."""

    id: str
    index: int
    description: str | None
    depends_on: tuple[str, ...]
    when: Condition
    when_text: str | None
    steps: tuple[StepSpec, ...]


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


# ------------------------------------------------------------------------------------------------ entry points


def validate_flow(
    flow_path: str,
    *,
    settings: Settings,
    env: Mapping[str, str],
    registry: Registry,
    container: bool = False,
    bundle_profiles_file: str | None = None,
    archive_drivers: Collection[str] | None = None,
) -> tuple[Report, Plan | None]:
    """Run every validation phase on ``flow_path``; the Plan is None when an error was found.

    ``archive_drivers`` is the enterprise allow-list (a bundle manifest's ``zip_drivers``), default pyzipper/zipfile.
    """
    checker = _Checker(
        flow_path,
        settings=settings,
        env=env,
        registry=registry,
        container=container,
        bundle_profiles_file=bundle_profiles_file,
        archive_drivers=frozenset(archive_drivers) if archive_drivers is not None else DEFAULT_ARCHIVE_DRIVERS,
    )
    plan = checker.run()
    errors = [_one_line(issue) for issue in checker.errors]
    warnings = [_one_line(issue) for issue in checker.warnings]
    if plan is not None and warnings != list(plan.warnings):
        plan = dataclasses.replace(plan, warnings=tuple(warnings))
    return Report(errors=errors, warnings=warnings, flow_path=flow_path), plan


def build_plan(
    flow_path: str,
    *,
    settings: Settings,
    env: Mapping[str, str],
    registry: Registry,
    container: bool = False,
    bundle_profiles_file: str | None = None,
    archive_drivers: Collection[str] | None = None,
) -> Plan:
    """The Plan of ``flow_path``; raises SpecErrors (exit 2) carrying every error and warning when it is invalid."""
    report, plan = validate_flow(
        flow_path,
        settings=settings,
        env=env,
        registry=registry,
        container=container,
        bundle_profiles_file=bundle_profiles_file,
        archive_drivers=archive_drivers,
    )
    if plan is None:
        raise SpecErrors(report.errors, report.warnings, path=flow_path)
    return plan


def execution_order(ids: list[str], depends_on: Mapping[str, Collection[str]]) -> list[str]:
    """Kahn's algorithm; among ready jobs the one declared first goes first (docs/concepts/flows-jobs-steps.md).

    Jobs caught in a cycle (rejected by validation) are appended in declaration order so nothing is lost.
    """
    index = {job_id: i for i, job_id in reversed(list(enumerate(ids)))}
    unique = sorted(index, key=index.__getitem__)
    waiting = {job: {d for d in depends_on.get(job, ()) if d in index and d != job} for job in unique}
    dependents: dict[str, list[str]] = {job: [] for job in unique}
    for job, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(job)
    ready = [(index[job], job) for job in unique if not waiting[job]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, job = heapq.heappop(ready)
        order.append(job)
        for nxt in dependents[job]:
            waiting[nxt].discard(job)
            if not waiting[nxt]:
                heapq.heappush(ready, (index[nxt], nxt))
    if len(order) < len(unique):
        done = set(order)
        order.extend(job for job in unique if job not in done)
    return order


# ------------------------------------------------------------------------------------------------ the checker


class _StepInfo(NamedTuple):
    """A step class's declared inputs, as far as validation needs them."""

    keys: frozenset[str] | None  # None: keys not checked (no model, or extra keys allowed)
    required: tuple[tuple[str, frozenset[str]], ...]  # (display name, accepted names) per required input
    nested: Mapping[str, _StepInfo]  # input name -> the shape of a nested model whose keys are checked too
    resource_kind: str | None
    takes_resource: bool

    def as_json(self) -> dict[str, Any]:
        """The shape as plain JSON data (the built-in catalogue ``aetherflow/steps/shapes.json``)."""
        return {
            "keys": None if self.keys is None else sorted(self.keys),
            "required": [[name, sorted(accepted)] for name, accepted in self.required],
            "nested": {key: sub.as_json() for key, sub in sorted(self.nested.items())},
            "resource_kind": self.resource_kind,
            "takes_resource": self.takes_resource,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _StepInfo:
        """The inverse of ``as_json``."""
        return cls(
            None if data["keys"] is None else frozenset(data["keys"]),
            tuple((name, frozenset(accepted)) for name, accepted in data["required"]),
            {key: cls.from_json(sub) for key, sub in data["nested"].items()},
            data["resource_kind"],
            data["takes_resource"],
        )


#: where the input shapes of the built-in steps are kept, so validation need not import them (nor pydantic)
STEP_SHAPES_FILE = Path(__file__).parent / "steps" / "shapes.json"


def step_info(cls: Any) -> _StepInfo:
    """The declared inputs of a step class, read from its ``inputs_model``."""
    model = getattr(cls, "inputs_model", None)
    kind = getattr(cls, "resource_kind", None)
    if model is None or not hasattr(model, "model_fields"):
        return _StepInfo(None, (), {}, kind, kind is not None)
    info = _model_info(model)
    return info._replace(resource_kind=kind, takes_resource=kind is not None or "resource" in model.model_fields)


def builtin_step_shapes(registry: Registry) -> dict[str, Any]:
    """The JSON catalogue of every built-in step's input shape (written to STEP_SHAPES_FILE)."""
    return {name: step_info(registry.step_class(name)).as_json() for name in registry.step_names()}


_SHAPES: dict[str, Any] | None = None


def _builtin_shape(step_type: str) -> _StepInfo | None:
    global _SHAPES  # read once per process: one small JSON file
    if _SHAPES is None:
        try:
            _SHAPES = json.loads(STEP_SHAPES_FILE.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _SHAPES = {}
    data = _SHAPES.get(step_type)
    return _StepInfo.from_json(data) if data is not None else None


class _Checker:
    """One validation run over one flow file: collects errors and warnings phase by phase."""

    def __init__(
        self,
        flow_path: str,
        *,
        settings: Settings,
        env: Mapping[str, str],
        registry: Registry,
        container: bool,
        bundle_profiles_file: str | None,
        archive_drivers: frozenset[str],
    ) -> None:
        self.flow_path = flow_path
        self.settings = settings
        self.env = env
        self.registry = registry
        self.container = container
        self.bundle_profiles_file = bundle_profiles_file
        self.archive_drivers = archive_drivers
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self._seen: set[tuple[bool, str, str, str]] = set()
        self._steps: dict[str, _StepInfo | None] = {}
        self.doc: YamlDocument = YamlDocument(data={})
        self.flow: dict[str, Any] = {}
        self.ancestors: dict[str, set[str]] = {}
        self.job_ids: set[str] = set()
        self.conditions: dict[int, Condition] = {}

    # -- recording -------------------------------------------------------------------------------------------
    def error(self, code: str, loc: str, msg: str, path: tuple[Any, ...] | None = None) -> None:
        self._add(True, Issue(code, loc, msg, line=self._line(path)))

    def warn(self, code: str, loc: str, msg: str, path: tuple[Any, ...] | None = None) -> None:
        self._add(False, Issue(code, loc, msg, line=self._line(path)))

    def _line(self, path: tuple[Any, ...] | None) -> int | None:
        return self.doc.line_of(path) if path is not None else None

    def _add(self, is_error: bool, issue: Issue) -> None:
        key = (is_error, issue.code, issue.loc, issue.msg)
        if key in self._seen:
            return
        self._seen.add(key)
        (self.errors if is_error else self.warnings).append(issue)

    # -- pipeline --------------------------------------------------------------------------------------------
    def run(self) -> Plan | None:
        try:
            raw = read_source(self.flow_path)
            text = decode_text(raw, self.flow_path)
        except InputError as exc:
            self.errors.append(exc.issue)
            return None
        doc, problems = parse_yaml(text)
        if doc is None:
            self.errors.extend(problems)
            return None
        self.doc = doc
        try:
            self.flow = flow_validator().validate_python(doc.data)
        except ValidationError as exc:
            self.errors.extend(schema_issues(exc.errors(), doc, flow_schema()))
            return None
        self._semantic()
        self._template_scan()
        profiles = self._profiles()
        if self.errors:
            return None
        meta = self._render_meta()
        if meta is None:
            return None
        return self._plan(meta, profiles, hashlib.sha256(raw).hexdigest())

    # -- phase 3: semantic rules ----------------------------------------------------------------------------
    def _semantic(self) -> None:
        flow, resources, jobs = self.flow["flow"], self.flow["resources"], self.flow["jobs"]
        if flow["state"]["backend"] == "file":
            self.warn(
                "semantic:state_backend_unsupported",
                "flow.state.backend",
                "state.backend 'file' is not supported; SQLite is used",
                ("flow", "state", "backend"),
            )
        self.job_ids = {job["id"] for job in jobs}
        self._rules_resources(resources)
        self._rules_ids(jobs)
        self._rules_graph(jobs)
        self._rules_steps(jobs, resources)
        self._rules_when(jobs)

    def _rules_resources(self, resources: Mapping[str, Any]) -> None:
        if self.settings.enterprise:  # rule 1
            allowed = ", ".join(sorted(self.archive_drivers))
            for name, res in resources.items():
                if res["kind"] == "archive" and res["driver"] not in self.archive_drivers:
                    self.error(
                        "semantic:enterprise_archive_driver",
                        f"resources.{name}.driver",
                        f"Enterprise mode requires archive driver in [{allowed}]; got '{res['driver']}'",
                        ("resources", name, "driver"),
                    )
        unknown: list[str] = []
        for name, res in resources.items():  # rule 2
            key = f"{res['kind']}:{res['driver']}"
            if not self.registry.has_connector(key):
                unknown.append(name)
                loaded = ", ".join(self.registry.connector_names())
                self.error(
                    "semantic:unknown_connector",
                    f"resources.{name}.driver",
                    f"Unknown connector: {key}. Loaded: [{loaded}]",
                    ("resources", name, "driver"),
                )
        for name, res in resources.items():  # rule 3
            key = f"{res['kind']}:{res['driver']}"
            if name in unknown:
                continue
            missing = self.registry.missing_extra(key)
            if missing is not None:
                module, extra = missing
                self.error(
                    "semantic:missing_extra",
                    f"resources.{name}.driver",
                    f"Connector {key} needs the optional dependency '{module}' (install aetherflow[{extra}])",
                    ("resources", name, "driver"),
                )

    def _rules_ids(self, jobs: list[dict[str, Any]]) -> None:
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job["id"]] = counts.get(job["id"], 0) + 1
        for job_id in sorted(j for j, n in counts.items() if n > 1):  # rule 4
            self.error("semantic:duplicate_job_id", "jobs", f"Duplicate job id: {job_id}", ("jobs",))
        for i, job in enumerate(jobs):  # rule 5
            step_counts: dict[str, int] = {}
            for step in job["steps"]:
                step_counts[step["id"]] = step_counts.get(step["id"], 0) + 1
            for step_id in sorted(s for s, n in step_counts.items() if n > 1):
                self.error(
                    "semantic:duplicate_step_id",
                    f"jobs[{i}].steps",
                    f"Duplicate step id in job '{job['id']}': {step_id}",
                    ("jobs", i, "steps"),
                )

    def _rules_graph(self, jobs: list[dict[str, Any]]) -> None:
        for i, job in enumerate(jobs):  # rule 6
            for dep in dict.fromkeys(job["depends_on"]):
                if dep not in self.job_ids:
                    self.error(
                        "semantic:depends_on_unknown_job",
                        f"jobs[{i}].depends_on",
                        f"Job '{job['id']}' depends_on unknown job: {dep}",
                        ("jobs", i, "depends_on"),
                    )
        for i, job in enumerate(jobs):  # rule 7
            if job["id"] in job["depends_on"]:
                self.error(
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
        cycles = [sorted(c, key=first.__getitem__) for c in _strongly_connected(graph) if len(c) > 1]
        for members in sorted(cycles, key=lambda c: first[c[0]]):  # rule 8
            i = first[members[0]]
            chain = " -> ".join([*members, members[0]])
            self.error(
                "semantic:cycle", f"jobs[{i}].depends_on", f"Dependency cycle: {chain}", ("jobs", i, "depends_on")
            )
        self.ancestors = _ancestors(graph)

    def _rules_steps(self, jobs: list[dict[str, Any]], resources: Mapping[str, Any]) -> None:
        rule9: list[tuple[str, str, str, tuple[Any, ...]]] = []
        rule10: list[tuple[str, str, str, tuple[Any, ...]]] = []
        rule11: list[tuple[str, str, str, tuple[Any, ...]]] = []
        rule12: list[tuple[str, str, str, tuple[Any, ...]]] = []
        rule13: list[tuple[str, str, str, tuple[Any, ...]]] = []
        rule14: list[tuple[str, str, str, tuple[Any, ...]]] = []
        missing_inputs: list[tuple[str, str, tuple[Any, ...]]] = []
        names = ", ".join(sorted(resources))
        for i, job in enumerate(jobs):
            for j, step in enumerate(job["steps"]):
                loc, path = f"jobs[{i}].steps[{j}]", ("jobs", i, "steps", j)
                step_type, inputs = step["type"], step["inputs"]
                if not self.registry.has_step(step_type):
                    rule9.append(
                        ("semantic:unknown_step_type", f"{loc}.type", self._unknown_type(step_type), (*path, "type"))
                    )
                    continue
                missing = self.registry.missing_step_extra(step_type)
                if missing is not None:
                    module, extra = missing
                    msg = f"Step {step_type} needs the optional dependency '{module}' (install aetherflow[{extra}])"
                    rule9.append(("semantic:missing_extra", f"{loc}.type", msg, (*path, "type")))
                info = self._step_info(step_type)
                if info is not None:
                    rule10.extend(self._key_issues(info, inputs, f"{loc}.inputs", (*path, "inputs")))
                    absent = [shown for shown, accepted in info.required if not accepted & inputs.keys()]
                    if absent:
                        missing_inputs.append(
                            (f"{loc}.inputs", f"Step {step['id']} missing inputs: {absent}", (*path, "inputs"))
                        )
                if step_type == PROCESS_STEP:
                    rule11.extend(_process_issues(inputs, f"{loc}.inputs", (*path, "inputs")))
                if step_type == LOCK_STEP:
                    rule12.extend(self._inner_issues(inputs, f"{loc}.inputs", (*path, "inputs"), 0))
                if info is not None and info.takes_resource:
                    # zip/unzip also take the resource as ``connector`` (docs/reference/steps/archive.md)
                    keys = ("resource",) if "resource" in inputs else ("connector",)
                    for key in keys:
                        name = inputs.get(key)
                        if not isinstance(name, str) or has_template(name):
                            continue
                        rloc, rpath = f"{loc}.inputs.{key}", (*path, "inputs", key)
                        if name not in resources:
                            rule13.append(
                                (
                                    "semantic:unknown_resource",
                                    rloc,
                                    f"Unknown resource: {name}. Known: [{names}]",
                                    rpath,
                                )
                            )
                        elif info.resource_kind and resources[name]["kind"] != info.resource_kind:
                            rule14.append(
                                (
                                    "semantic:resource_kind_mismatch",
                                    rloc,
                                    f"Resource '{name}' is kind={resources[name]['kind']}, step {step_type} "
                                    f"needs kind={info.resource_kind}",
                                    rpath,
                                )
                            )
        for found in (rule9, rule10, rule11, rule12, rule13, rule14):
            for code, loc, msg, path in found:
                self.error(code, loc, msg, path)
        for loc, msg, path in missing_inputs:
            self.warn("semantic:missing_required_input", loc, msg, path)

    def _rules_when(self, jobs: list[dict[str, Any]]) -> None:
        unknown: list[tuple[int, str]] = []
        for i, job in enumerate(jobs):  # rule 15
            try:
                condition = parse_when(job["when"])
            except WhenError as exc:
                self.error("semantic:invalid_when", f"jobs[{i}].when", exc.message, ("jobs", i, "when"))
                continue
            self.conditions[i] = condition
            unknown.extend((i, ref) for ref in sorted(condition.job_refs()) if ref not in self.job_ids)
        for i, ref in unknown:  # rule 16
            self.error(
                "semantic:when_unknown_job", f"jobs[{i}].when", f"Unknown job in when: {ref}", ("jobs", i, "when")
            )
        for i, condition in self.conditions.items():
            job_id = jobs[i]["id"]
            for ref in sorted(condition.job_refs()):
                if ref in self.job_ids and ref not in self.ancestors.get(job_id, set()):
                    self.warn(
                        "semantic:not_a_dependency",
                        f"jobs[{i}].when",
                        f"Job '{job_id}' reads jobs.{ref} but does not depend on it",
                        ("jobs", i, "when"),
                    )

    def _unknown_type(self, step_type: Any) -> str:
        return f"Unknown step type: {step_type}. Loaded: [{', '.join(self.registry.step_names())}]"

    def _step_info(self, step_type: str) -> _StepInfo | None:
        if step_type not in self._steps:
            self._steps[step_type] = self._load_step_info(step_type)
        return self._steps[step_type]

    def _load_step_info(self, step_type: str) -> _StepInfo | None:
        if self.registry.is_builtin_step(step_type):
            shape = _builtin_shape(step_type)
            if shape is not None:
                return shape
        try:
            cls = self.registry.step_class(step_type)
        except (ImportError, AttributeError):
            return None  # a step module that cannot be imported fails when the step runs, not here
        return step_info(cls)

    def _key_issues(
        self, info: _StepInfo, inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...]
    ) -> Iterator[tuple[str, str, str, tuple[Any, ...]]]:
        if info.keys is None:
            return
        yield from _extra_keys(info.keys, nested=info.nested, value=inputs, loc=loc, path=path, depth=0)

    def _inner_issues(
        self, inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...], depth: int
    ) -> Iterator[tuple[str, str, str, tuple[Any, ...]]]:
        inner = inputs.get("step")
        if not isinstance(inner, dict) or depth > _MAX_INNER_DEPTH:
            return
        inner_type = inner.get("type")
        if not isinstance(inner_type, str) or has_template(inner_type):
            return
        if not self.registry.has_step(inner_type):
            yield (
                "semantic:unknown_step_type",
                f"{loc}.step.type",
                self._unknown_type(inner_type),
                (*path, "step", "type"),
            )
            return
        inner_inputs = inner.get("inputs")
        if not isinstance(inner_inputs, dict):
            return
        info = self._step_info(inner_type)
        if info is not None:
            yield from self._key_issues(info, inner_inputs, f"{loc}.step.inputs", (*path, "step", "inputs"))
        if inner_type == LOCK_STEP:
            yield from self._inner_issues(inner_inputs, f"{loc}.step.inputs", (*path, "step", "inputs"), depth + 1)

    # -- phase 4: template scan -----------------------------------------------------------------------------
    def _template_scan(self) -> None:
        raw = self.doc.data
        resources = raw.get("resources") or {}
        for name, res in resources.items():
            if not isinstance(res, dict):
                continue
            for section in ("config", "options"):
                value = res.get(section)
                if value:
                    self._scan(f"resources.{name}.{section}", ("resources", name, section), value, ENV_ROOTS)
            self._decode_targets(name, res.get("config") or {}, res.get("options") or {}, res.get("decode") or {})
        self._scan("flow", ("flow",), raw["flow"], ENV_ROOTS)
        for i, job in enumerate(raw["jobs"]):
            for j, step in enumerate(job["steps"]):
                for section in ("inputs", "outputs"):
                    value = step.get(section)
                    if value:
                        path = ("jobs", i, "steps", j, section)
                        self._scan(f"jobs[{i}].steps[{j}].{section}", path, value, STEP_ROOTS, job_id=job["id"])

    def _scan(
        self,
        section: str,
        path: tuple[Any, ...],
        value: Any,
        roots: frozenset[str],
        *,
        job_id: str | None = None,
        doc: YamlDocument | None = None,
        check_env: bool = True,
    ) -> None:
        doc = doc or self.doc
        file = doc.file
        section_line = doc.line_of(path)
        for leaf_path, leaf_loc, text in _leaves(value, path, section):
            if not has_template(text):
                continue
            try:
                template: Template = parse(text, roots)
            except TemplateSyntaxError as exc:
                if job_id is not None and exc.root is not None:
                    self._add(
                        True,
                        Issue(
                            "template:unknown_root",
                            leaf_loc,
                            f"Unknown template root: {exc.root}",
                            line=doc.line_of(leaf_path),
                            file=file,
                        ),
                    )
                    template = parse(text, None)
                else:
                    detail = f"{leaf_loc}: {exc.detail}" if exc.detail else leaf_loc
                    self._add(
                        True,
                        Issue(
                            "template:syntax",
                            section,
                            f"{TemplateSyntaxError.SENTENCE} ({detail})",
                            line=section_line,
                            file=file,
                        ),
                    )
                    continue
            for token in template.tokens:
                if token.root == "env" and token.default is None and check_env and _env_missing(self.env, token.path):
                    strict = self.settings.validate_env_strict
                    self._add(
                        strict,
                        Issue(
                            "semantic:missing_env", section, f"Missing env {token.path}", line=section_line, file=file
                        ),
                    )
                elif token.root == "jobs" and job_id is not None and "." in token.path:
                    ref = token.path.split(".")[1]
                    if ref not in self.ancestors.get(job_id, set()):
                        self._add(
                            False,
                            Issue(
                                "semantic:not_a_dependency",
                                section,
                                f"Job '{job_id}' reads jobs.{ref} but does not depend on it",
                                line=section_line,
                                file=file,
                            ),
                        )

    def _decode_targets(
        self, name: str, config: Mapping[str, Any], options: Mapping[str, Any], decode: Mapping[str, Any]
    ) -> None:
        if not isinstance(decode, dict):
            return
        for section, values in (("config", config), ("options", options)):
            if not isinstance(values, dict):
                continue
            targets = [*_true_paths(decode.get(section)), *_str_items(decode.get(f"{section}_paths"))]
            for target in dict.fromkeys(targets):
                value = _dotted(values, target)
                if not isinstance(value, str) or ("{{" not in value and "}}" not in value):
                    continue
                try:
                    standalone = parse(value, None).standalone
                except TemplateSyntaxError:
                    standalone = False
                if not standalone:
                    path = ("resources", name, section, *target.split("."))
                    self._add(
                        True,
                        Issue(
                            "template:syntax",
                            f"resources.{name}.{section}.{target}",
                            _DECODE_MSG,
                            line=self.doc.line_of(path),
                        ),
                    )

    # -- phase 5: profiles ----------------------------------------------------------------------------------
    def _profiles(self) -> Profiles:
        profiles = load_profiles(
            self.settings, container=self.container, bundle_profiles_file=self.bundle_profiles_file
        )
        for issue in profiles.errors:
            self._add(True, issue)
        for issue in profiles.warnings:
            self._add(False, issue)
        resources: Mapping[str, Any] = self.flow["resources"]
        used = {res["profile"] for res in resources.values() if res["profile"]}
        if profiles.document is not None:
            for pname, body in profiles.raw.items():
                for section in ("config", "options"):
                    value = body.get(section)
                    if value:
                        self._scan(
                            f"profiles.{pname}.{section}",
                            (pname, section),
                            value,
                            ENV_ROOTS,
                            doc=profiles.document,
                            check_env=pname in used,
                        )
        data = profiles.document.data if profiles.document is not None else None
        written = set(data) if isinstance(data, dict) else set()
        # a source that failed as a whole (unreadable, bad YAML, not a mapping) names no profile reliably
        loaded = isinstance(data, dict) and not any(not e.loc.startswith("profiles.") for e in profiles.errors)
        for name, res in resources.items():
            pname = res["profile"]
            if not pname:
                continue
            path = ("resources", name, "profile")
            if not profiles.configured:
                self.warn(
                    "semantic:unknown_profile",
                    f"resources.{name}.profile",
                    f"Resource '{name}' references profile '{pname}' but no profiles are configured",
                    path,
                )
                continue
            profile = profiles.get(pname)
            if profile is None:
                if pname in written or not loaded:
                    continue  # invalid (already reported), or the source itself failed to load
                hint = did_you_mean(pname, sorted(str(p) for p in written))
                self.error(
                    "semantic:unknown_profile",
                    f"resources.{name}.profile",
                    f"Resource '{name}' references unknown profile '{pname}'{hint}",
                    path,
                )
                continue
            raw_res = self.doc.data["resources"][name]
            merged_decode = {
                "config": deep_merge(profile.decode.config, raw_res.get("decode", {}).get("config") or {}),
                "options": deep_merge(profile.decode.options, raw_res.get("decode", {}).get("options") or {}),
                "config_paths": [
                    *profile.decode.config_paths,
                    *_str_items(raw_res.get("decode", {}).get("config_paths")),
                ],
                "options_paths": [
                    *profile.decode.options_paths,
                    *_str_items(raw_res.get("decode", {}).get("options_paths")),
                ],
            }
            self._decode_targets(
                name,
                deep_merge(profile.config, res["config"]),
                deep_merge(profile.options, res["options"]),
                merged_decode,
            )
        return profiles

    # -- rendering and the plan -----------------------------------------------------------------------------
    def _render_meta(self) -> FlowMeta | None:
        try:
            flow = render(self.flow["flow"], {"env": self.env}, ENV_ROOTS)
        except TemplateMissingKey as exc:
            self.error("template:missing_key", "flow", str(exc), ("flow",))
            return None
        except TemplateSyntaxError as exc:
            self.error("template:syntax", "flow", str(exc), ("flow",))
            return None
        flow_id = flow["id"]
        if not isinstance(flow_id, str) or not is_valid_id(flow_id):
            self.error("schema:invalid_id", "flow.id", id_error_message(str(flow_id)), ("flow", "id"))
        workspace = flow["workspace"]
        for key, value in workspace["layout"].items():
            problem = layout_path_problem(value) if isinstance(value, str) else "must be a string"
            if problem is not None:
                self.error(
                    "schema:value_error",
                    f"flow.workspace.layout.{key}",
                    f"Value error, workspace layout path {problem}: '{value}'",
                    ("flow", "workspace", "layout", key),
                )
        if self.errors:
            return None
        return FlowMeta(
            flow_id=flow_id,
            description=flow["description"],
            work_root=str(workspace["root"]),
            cleanup_policy=workspace["cleanup_policy"],
            layout=dict(workspace["layout"]),
            state_backend=flow["state"]["backend"],
            state_path=str(flow["state"]["path"]),
            locks_scope=flow["locks"]["scope"],
            locks_ttl_seconds=flow["locks"]["ttl_seconds"],
        )

    def _plan(self, meta: FlowMeta, profiles: Profiles, sha256: str) -> Plan:
        jobs_data: list[dict[str, Any]] = self.flow["jobs"]
        specs: dict[str, JobSpec] = {}
        for i, job in enumerate(jobs_data):
            specs[job["id"]] = JobSpec(
                id=job["id"],
                index=i,
                description=job["description"],
                depends_on=tuple(dict.fromkeys(job["depends_on"])),
                when=self.conditions[i],
                when_text=job["when"],
                steps=tuple(_step_spec(j, step) for j, step in enumerate(job["steps"])),
            )
        ids = [job["id"] for job in jobs_data]
        order = execution_order(ids, {job_id: spec.depends_on for job_id, spec in specs.items()})
        resources = {name: ResourceModel.from_validated(name, res) for name, res in self.flow["resources"].items()}
        return Plan(
            flow_path=self.flow_path,
            flow_sha256=sha256,
            meta=meta,
            jobs=tuple(specs[job_id] for job_id in order),
            declared_job_ids=tuple(ids),
            resources=resources,
            profiles=profiles,
            warnings=tuple(self.warnings),
        )


# ------------------------------------------------------------------------------------------------ helpers


def _one_line(issue: Issue) -> Issue:
    """Records are one line (docs/reference/error-codes.md): a line break in a key or value is shown as ``\\n``."""
    text = issue.loc + issue.msg
    if "\n" not in text and "\r" not in text:
        return issue
    return dataclasses.replace(issue, loc=_escape_breaks(issue.loc), msg=_escape_breaks(issue.msg))


def _escape_breaks(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _step_spec(index: int, step: Mapping[str, Any]) -> StepSpec:
    retry = step["retry"]
    policy = None
    if retry is not None:
        retry_on = retry.get("retry_on") or {}
        exceptions = retry_on.get("exceptions")
        exit_codes = retry_on.get("exit_codes")
        policy = RetryPolicy(
            max_attempts=retry["max_attempts"],
            backoff_seconds=float(retry["backoff_seconds"]),
            factor=float(retry["factor"]),
            max_delay_seconds=retry["max_delay_seconds"],
            retry_on_exceptions=tuple(exceptions) if exceptions is not None else None,
            retry_on_exit_codes=tuple(exit_codes) if exit_codes is not None else None,
        )
    return StepSpec(
        id=step["id"],
        type=step["type"],
        index=index,
        inputs=step["inputs"],
        outputs=step["outputs"],
        on_no_data=step["on_no_data"],
        retry=policy,
        timeout_seconds=step["timeout_seconds"],
    )


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long dependency chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
    return result


def _ancestors(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Every job's transitive dependencies (cycles tolerated: they were reported already)."""
    out: dict[str, set[str]] = {}
    for job in graph:
        seen: set[str] = set()
        todo = list(graph[job])
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            todo.extend(graph.get(dep, ()))
        out[job] = seen
    return out


def _model_info(model: Any) -> _StepInfo:
    """Accepted input names (field names and aliases), required inputs, and nested closed models per input."""
    names: set[str] = set()
    required: list[tuple[str, frozenset[str]]] = []
    nested: dict[str, _StepInfo] = {}
    for name, info in model.model_fields.items():
        accepted = {name}
        if isinstance(info.alias, str):
            accepted.add(info.alias)
        accepted.update(_alias_names(info.validation_alias))
        names.update(accepted)
        if info.is_required():
            required.append((info.alias if isinstance(info.alias, str) else name, frozenset(accepted)))
        sub = _nested_model(info.annotation)
        if sub is not None:
            for key in accepted:
                nested[key] = _model_info(sub)
    # unknown keys are rejected for every step unless its model explicitly accepts extra keys
    # (docs/reference/steps/README.md)
    config = getattr(model, "model_config", {})
    keys = None if config.get("extra") == "allow" else frozenset(names)
    return _StepInfo(keys, tuple(required), nested, None, False)


def _alias_names(alias: Any) -> set[str]:
    if alias is None:
        return set()
    if isinstance(alias, str):
        return {alias}
    choices = getattr(alias, "choices", None)
    if choices is not None:
        out: set[str] = set()
        for choice in choices:
            out |= _alias_names(choice)
        return out
    path = getattr(alias, "path", None)
    if path and isinstance(path[0], str):
        return {path[0]}
    return set()


def _nested_model(annotation: Any) -> Any:
    """The single pydantic model ``annotation`` is (``M``, ``M | None``, ``Annotated[M, ...]``), else None.

    A ``list[M]`` is looked into (each entry is checked); a ``dict[str, M]`` is not: its keys are names, not fields.
    """
    found: list[Any] = []
    todo = [annotation]
    while todo:
        current = todo.pop()
        if isinstance(current, type) and hasattr(current, "model_fields"):
            found.append(current)
            continue
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            todo.append(typing.get_args(current)[0])
        elif origin is typing.Union or origin is types.UnionType or origin is list:
            todo.extend(typing.get_args(current))
    return found[0] if len(found) == 1 else None


def _extra_keys(
    keys: frozenset[str],
    *,
    nested: Mapping[str, _StepInfo],
    value: Mapping[Any, Any],
    loc: str,
    path: tuple[Any, ...],
    depth: int,
) -> Iterator[tuple[str, str, str, tuple[Any, ...]]]:
    for key, item in value.items():
        if key not in keys:
            yield (
                "schema:extra_forbidden",
                f"{loc}.{key}",
                f"Extra inputs are not permitted{did_you_mean(key, sorted(keys))}",
                (*path, key),
            )
            continue
        sub = nested.get(key)
        if sub is None or depth >= _MAX_INNER_DEPTH or sub.keys is None:
            continue
        entries = enumerate(item) if isinstance(item, list) else [(None, item)]
        for i, entry in entries:
            if isinstance(entry, dict):
                where, at = (f"{loc}.{key}", (*path, key)) if i is None else (f"{loc}.{key}[{i}]", (*path, key, i))
                yield from _extra_keys(sub.keys, nested=sub.nested, value=entry, loc=where, path=at, depth=depth + 1)


def _process_issues(
    inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...]
) -> Iterator[tuple[str, str, str, tuple[Any, ...]]]:
    """Static checks of ``external.process`` inputs (docs/reference/steps/process.md); templates are not checked."""
    if "command" not in inputs or inputs["command"] is None:
        yield (
            "semantic:external_process_missing_command",
            f"{loc}.command",
            "external.process requires inputs.command",
            (*path, "command"),
        )
        return
    if not isinstance(inputs["command"], str | list):
        yield (
            "semantic:external_process_command_type",
            f"{loc}.command",
            "external.process inputs.command must be a string or list",
            (*path, "command"),
        )
    log = inputs.get("log")
    if isinstance(log, dict):
        modes: list[str] = []
        for stream in ("stdout", "stderr"):
            mode = log.get(stream)
            if mode is None or (isinstance(mode, str) and has_template(mode)):
                continue
            if isinstance(mode, str) and mode in _LOG_MODES:
                modes.append(mode)
                continue
            yield (
                "semantic:external_process_log_mode",
                f"{loc}.log.{stream}",
                f"Unknown log mode: {mode}",
                (*path, "log", stream),
            )
        if "file" in modes and not log.get("file_path"):
            yield (
                "semantic:external_process_log_file",
                f"{loc}.log.file_path",
                "log.file_path is required when stdout/stderr mode is 'file'",
                (*path, "log", "file_path"),
            )
    idempotency = inputs.get("idempotency")
    if (
        isinstance(idempotency, dict)
        and idempotency.get("strategy") == "atomic_dir"
        and not (idempotency.get("temp_output_dir") and idempotency.get("final_output_dir"))
    ):
        yield (
            "semantic:external_process_atomic_dir",
            f"{loc}.idempotency",
            "atomic_dir requires temp_output_dir and final_output_dir",
            (*path, "idempotency"),
        )


def _leaves(value: Any, path: tuple[Any, ...], loc: str) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """``(path, loc, text)`` for every string leaf of ``value`` (mapping keys are never templated)."""
    todo: list[tuple[Any, tuple[Any, ...], str]] = [(value, path, loc)]
    while todo:
        current, cur_path, cur_loc = todo.pop()
        if isinstance(current, str):
            yield cur_path, cur_loc, current
        elif isinstance(current, dict):
            todo.extend((item, (*cur_path, key), f"{cur_loc}.{key}") for key, item in reversed(list(current.items())))
        elif isinstance(current, list):
            todo.extend((item, (*cur_path, n), f"{cur_loc}[{n}]") for n, item in reversed(list(enumerate(current))))


def _env_missing(env: Mapping[str, str], path: str) -> bool:
    """Whether ``env.<...>`` would be missing (docs/reference/templating.md): absent, empty, or deeper than a string."""
    segments = path.split(".")
    if len(segments) == 1:
        return False
    if len(segments) > 2:
        return True
    value = env.get(segments[1])
    return value is None or value == ""


def _true_paths(tree: Any, prefix: str = "") -> Iterator[str]:
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if value is True:
            yield dotted
        elif isinstance(value, dict):
            yield from _true_paths(value, f"{dotted}.")


def _str_items(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _dotted(values: Mapping[str, Any], dotted: str) -> Any:
    if dotted in values:
        return values[dotted]
    current: Any = values
    for segment in dotted.split("."):
        if not isinstance(current, Mapping) or segment not in current:
            return None
        current = current[segment]
    return current


# ------------------------------------------------------------------------------------------------ resources


def _apply_decode(tree: dict[str, Any], path: str, decode: Callable[[str], str], redactor: Any) -> None:
    def decoded(raw: str) -> str:
        redactor.add(raw)
        value = decode(raw)
        redactor.add(value)
        return value

    replace_decode_target(tree, path, decoded)


def build_resources(
    resources: Mapping[str, Any],
    profiles: Mapping[str, Any],
    env: Mapping[str, str],
    redactor: Any,
    *,
    decode: Callable[[str], str] | None = None,
) -> dict[str, ResolvedResource]:
    """Merge profiles, render config/options with the env root, decode, and register secrets.

    ``resources`` holds the flow's resource models (attributes kind, driver, profile, config, options, decode);
    ``profiles`` maps profile names to models with config/options/decode. Raises TemplateError or InputError.
    """
    out: dict[str, ResolvedResource] = {}
    for name, res in resources.items():
        merged = merge_resource(res, profiles.get(res.profile) if res.profile else None)
        dec = merged.decode
        data = {"env": env}
        config = render(merged.config, data, ENV_ROOTS)
        options = render(merged.options, data, ENV_ROOTS)
        wanted = [("config", p) for p in decode_paths(dec, "config")] + [
            ("options", p) for p in decode_paths(dec, "options")
        ]
        if wanted and decode is None:
            raise InputError(
                f"Resource '{name}' requests decode but no secrets hook is configured "
                "(set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH)",
                loc=f"resources.{name}.decode",
            )
        for section, path in wanted:
            assert decode is not None
            _apply_decode(config if section == "config" else options, path, decode, redactor)
        register_secret_keys(config, redactor)
        register_secret_keys(options, redactor)
        out[name] = ResolvedResource(name, res.kind, res.driver, config, options, res.profile)
    return out
