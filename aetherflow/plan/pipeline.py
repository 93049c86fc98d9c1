"""The validation pipeline: phases in the spec's order, then the flow block rendered and the Plan built.

Each phase records its problems in one ``Recorder``; the YAML and schema phases stop the pipeline on failure, the
others all run so one ``validate`` reports everything it can.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from pydantic_core import ValidationError

from aetherflow.errors import InputError, SpecErrors, TemplateMissingKey, TemplateSyntaxError
from aetherflow.plan.connector_keys import check_connector_keys
from aetherflow.plan.findings import Recorder, one_line
from aetherflow.plan.graph import execution_order
from aetherflow.plan.literal_inputs import check_literal_inputs
from aetherflow.plan.model import FlowMeta, JobSpec, Plan, Report
from aetherflow.plan.output_refs import OutputReferences
from aetherflow.plan.profile_checks import check_profiles
from aetherflow.plan.references import TemplateScanner
from aetherflow.plan.rules import DEFAULT_ARCHIVE_DRIVERS, SemanticRules, Semantics
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from aetherflow.spec.load import decode_text, parse_yaml, read_source, schema_issues
from aetherflow.spec.model import (
    ResourceModel,
    flow_schema,
    flow_validator,
    id_error_message,
    is_valid_id,
    layout_path_problem,
)
from aetherflow.spec.profiles import Profiles
from aetherflow.spec.timezones import DEFAULT_TIMEZONE, zone_problem
from aetherflow.templating import ENV_ROOTS, render


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
    errors = [one_line(issue) for issue in checker.rec.errors]
    warnings = [one_line(issue) for issue in checker.rec.warnings]
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


class _Checker:
    """One validation run over one flow file."""

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
        self.rec = Recorder()

    def run(self) -> Plan | None:
        rec = self.rec
        try:
            raw = read_source(self.flow_path)
            text = decode_text(raw, self.flow_path)
        except InputError as exc:
            rec.errors.append(exc.issue)
            return None
        doc, problems = parse_yaml(text)  # phase 1
        if doc is None:
            rec.errors.extend(problems)
            return None
        rec.doc = doc
        try:  # phase 2
            flow: dict[str, Any] = flow_validator().validate_python(doc.data)
        except ValidationError as exc:
            rec.errors.extend(schema_issues(exc.errors(), doc, flow_schema()))
            return None
        rules = SemanticRules(
            rec, registry=self.registry, enterprise=self.settings.enterprise, archive_drivers=self.archive_drivers
        )
        semantics = rules.check(flow)  # phase 3
        check_connector_keys(rec, self.registry, flow["resources"])
        check_literal_inputs(rec, rules.shapes, flow["jobs"])
        strict = self.settings.validate_env_strict
        scanner = TemplateScanner(rec, env=self.env, strict_env=strict)
        scanner.scan_flow(doc.data)  # phase 4
        OutputReferences(rec, rules.shapes, semantics).check_flow(doc.data)
        profiles = check_profiles(  # phase 5
            rec,
            scanner,
            flow["resources"],
            settings=self.settings,
            container=self.container,
            bundle_profiles_file=self.bundle_profiles_file,
        )
        if rec.errors:
            return None
        meta = self._render_meta(flow["flow"])
        if meta is None:
            return None
        return self._plan(flow, semantics, meta, profiles, hashlib.sha256(raw).hexdigest())

    def _render_meta(self, written: Mapping[str, Any]) -> FlowMeta | None:
        """The ``flow`` block rendered with the env root; None (errors recorded) when it renders to something bad."""
        rec = self.rec
        try:
            flow = render(written, {"env": self.env}, ENV_ROOTS)
        except TemplateMissingKey as exc:
            rec.error("template:missing_key", "flow", str(exc), ("flow",))
            return None
        except TemplateSyntaxError as exc:
            rec.error("template:syntax", "flow", str(exc), ("flow",))
            return None
        flow_id = flow["id"]
        if not isinstance(flow_id, str) or not is_valid_id(flow_id):
            rec.error("schema:invalid_id", "flow.id", id_error_message(str(flow_id)), ("flow", "id"))
        workspace = flow["workspace"]
        for key, value in workspace["layout"].items():
            problem = layout_path_problem(value) if isinstance(value, str) else "must be a string"
            if problem is not None:
                rec.error(
                    "schema:value_error",
                    f"flow.workspace.layout.{key}",
                    f"Value error, workspace layout path {problem}: '{value}'",
                    ("flow", "workspace", "layout", key),
                )
        timezone = self._timezone(flow.get("timezone"))
        if rec.errors:
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
            timezone=timezone,
        )

    def _timezone(self, written: Any) -> str:
        """The zone of ``run.date``: ``flow.timezone`` (rendered), else AETHERFLOW_TIMEZONE, else UTC."""
        if written is not None:
            problem = zone_problem(written)
            if problem is not None:
                self.rec.error("schema:value_error", "flow.timezone", f"Value error, {problem}", ("flow", "timezone"))
            return str(written)
        setting = self.settings.timezone
        if setting is None or not setting.strip():
            return DEFAULT_TIMEZONE
        problem = zone_problem(setting.strip())
        if problem is not None:
            self.rec.error("settings:invalid", "AETHERFLOW_TIMEZONE", f"AETHERFLOW_TIMEZONE: {problem}")
        return setting.strip()

    def _plan(
        self, flow: Mapping[str, Any], semantics: Semantics, meta: FlowMeta, profiles: Profiles, sha256: str
    ) -> Plan:
        jobs_data: list[dict[str, Any]] = flow["jobs"]
        specs = {job["id"]: JobSpec.from_validated(i, job, semantics.conditions[i]) for i, job in enumerate(jobs_data)}
        ids = [job["id"] for job in jobs_data]
        order = execution_order(ids, {job_id: spec.depends_on for job_id, spec in specs.items()})
        resources = {name: ResourceModel.from_validated(name, res) for name, res in flow["resources"].items()}
        return Plan(
            flow_path=self.flow_path,
            flow_sha256=sha256,
            meta=meta,
            jobs=tuple(specs[job_id] for job_id in order),
            declared_job_ids=tuple(ids),
            resources=resources,
            profiles=profiles,
            warnings=tuple(self.rec.warnings),
        )
