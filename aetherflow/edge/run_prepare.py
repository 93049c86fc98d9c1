"""The input phase of a run: settings, bundle and env into ``RunInputs``, then the plan and the run's resources.

Every error here is invalid input: reported as one line (or the ``INVALID:`` block ``validate`` prints), exit 2,
before any state or lock exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aetherflow.edge.run_exit import Invalid, print_invalid, report_invalid
from aetherflow.errors import AetherFlowError, ExitCode, InputError, Issue, SpecErrors

if TYPE_CHECKING:
    from aetherflow.edge.inputs import RunInputs
    from aetherflow.events import EventBus
    from aetherflow.plan import Plan
    from aetherflow.redaction import Redactor
    from aetherflow.settings import Settings


def prepare(
    flow_yaml: str | None,
    settings: Settings,
    environ: Mapping[str, str],
    events: EventBus,
    redactor: Redactor,
    *,
    container: bool,
) -> RunInputs:
    """The run's inputs (bundle, env, registry, hooks), or invalid input reported."""
    from aetherflow.edge.inputs import prepare_inputs

    try:
        return prepare_inputs(
            environ, settings, flow_yaml=flow_yaml, container=container, emit=events.emit, redactor=redactor
        )
    except InputError as exc:
        issues = getattr(exc, "issues", None)  # an invalid bundle manifest: every record
        if not issues:
            report_invalid(redactor.mask(str(exc)), None)
            raise
        print_invalid(settings.bundle_manifest, issues, (), redactor.mask)
        raise Invalid(redactor.mask(str(issues[0]))) from None
    except AetherFlowError as exc:
        if exc.exit_code != ExitCode.INVALID:
            raise
        report_invalid(redactor.mask(str(exc)), None)
        raise


def plan_run(inputs: RunInputs, *, container: bool) -> Plan:
    """The plan, with the environment preflight of the jobs this run may start; invalid input reported."""
    from aetherflow.plan import EnvCheck, build_plan

    flow_path = inputs.flow_path or ""
    try:
        plan = build_plan(
            flow_path,
            settings=inputs.settings,
            env=inputs.env,
            registry=inputs.registry,
            container=container,
            env_check=EnvCheck.for_run(inputs.settings.flow_job),  # before any state or lock exists
            **inputs.plan_options(),
        )
    except SpecErrors as exc:
        mask = inputs.redactor.mask
        print_invalid(flow_path, exc.errors, exc.warnings, mask)
        first = exc.errors[0] if exc.errors else Issue("settings:invalid", "<root>", "invalid input")
        raise Invalid(mask(f"{first.loc}: {first.code} - {first.msg}")) from None
    problems = inputs.hook_problems(plan)  # reported as ``validate`` reports it
    if problems:
        print_invalid(flow_path, problems, plan.warnings, inputs.redactor.mask)
        first = problems[0]
        raise Invalid(inputs.redactor.mask(f"{first.loc}: {first.code} - {first.msg}"), plan.meta.flow_id)
    return plan


def emit_plan_warnings(plan: Plan, events: EventBus, redactor: Redactor) -> None:
    """Each warning of the plan as an event (profiles a bundle overrides have their own)."""
    for issue in plan.warnings:
        if issue.code == "profile:overridden_by_bundle":
            events.emit("profiles_overridden_by_bundle", level="WARNING", msg=redactor.mask(issue.msg))
        else:
            events.emit(
                "validation_warning", level="WARNING", code=issue.code, loc=issue.loc, msg=redactor.mask(issue.msg)
            )


def resources(plan: Plan, inputs: RunInputs, flow_id: str) -> Any:
    """The run's connector resources (profiles and secrets resolved), or invalid input reported."""
    from aetherflow.plan import EnvCheck
    from aetherflow.plan.resources import build_run_resources

    hook = inputs.hook
    try:
        return build_run_resources(
            plan,
            EnvCheck.for_run(inputs.settings.flow_job).jobs,
            inputs.env,
            inputs.redactor,
            decode=hook.decode if hook is not None else None,
        )
    except AetherFlowError as exc:
        report_invalid(inputs.redactor.mask(str(exc)), flow_id)
        raise
