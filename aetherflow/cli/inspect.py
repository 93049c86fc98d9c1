"""``aetherflow doctor`` and ``aetherflow explain`` (docs/reference/cli.md): look at a flow and its environment.

This module registers both commands and holds what they share (the prepared context); each command's own work is in
``aetherflow.cli.doctor`` and ``aetherflow.cli.explain``, imported when the command runs.

Both build what a run would build before it executes anything (settings, the secrets hook, the env snapshot, the
validation pipeline of ``aetherflow.plan``) and neither connects anywhere: ``doctor`` turns the findings into a list
of problems (missing env included) plus the environment checks a run would hit only later (state directory and
volume, decode without a hook, the Pushgateway URL); ``explain`` shows where every resource setting comes from,
which env variables it reads, what goes through the secrets hook, and the job order with lock keys.
Every line printed goes through the run's redactor. Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from aetherflow.errors import Issue
    from aetherflow.plan import Plan, Report
    from aetherflow.redaction import Redactor
    from aetherflow.registry import Registry
    from aetherflow.settings import Settings
    from aetherflow.spec.secrets import SecretsHook

__all__ = ["InspectContext", "prepare", "records", "register", "validate"]

MASK: Final = "***"
MISSING_ENV_CODE: Final = "semantic:missing_env"
NETWORK_FS_CODE: Final = "settings:state_network_fs"
_NO_FLOW: Final = (
    "No flow file: pass --flow-yaml, set AETHERFLOW_FLOW_FILE, or run where ./flow.yaml "
    "(or /etc/aetherflow/flows/flow.yaml) exists"
)


def register(subparsers: Any) -> None:
    """Add the ``doctor`` and ``explain`` commands."""
    doctor = subparsers.add_parser(
        "doctor",
        help="check a flow and its environment (env, profiles, secrets hook, extras, state volume, Pushgateway URL)",
        description="Environment sanity checks; missing env keys are problems here. Exit 0 if none, 2 otherwise.",
    )
    _common_args(doctor)
    doctor.set_defaults(handler=_doctor)
    explain = subparsers.add_parser(
        "explain",
        help="show where each resource setting comes from and the execution plan; connects nowhere",
        description="Resource settings with their origin (profile or resource), env reads, decode map, and the plan.",
    )
    _common_args(explain)
    explain.set_defaults(handler=_explain)


def _doctor(args: argparse.Namespace) -> int:
    from aetherflow.cli.doctor import doctor

    return doctor(args)


def _explain(args: argparse.Namespace) -> int:
    from aetherflow.cli.explain import explain

    return explain(args)


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow-yaml", dest="flow_yaml", metavar="PATH", help="flow file (default: discovered)")
    parser.add_argument("--bundle-manifest", metavar="PATH", help="bundle manifest providing the flow")
    parser.add_argument("--allow-stale-bundle", action="store_true", help="use the last synced bundle if sync fails")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")


# ------------------------------------------------------------------------------------------------ shared context


@dataclass
class InspectContext:
    """What a run would have before executing: settings, redactor, hook, env snapshot, and the problems found."""

    flow_path: str
    settings: Settings
    redactor: Redactor
    hook: SecretsHook | None = None
    hook_configured: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    problems: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    registry: Registry | None = None
    plan_options: dict[str, Any] = field(default_factory=dict)


def prepare(args: argparse.Namespace, command: str) -> InspectContext:
    """Settings, secrets hook, env snapshot, bundle and plugins as ``run`` builds them; failures become problems."""
    from aetherflow.cli.common import discover_flow_file
    from aetherflow.edge.inputs import DEFAULT_WORK_ROOT, prepare_inputs
    from aetherflow.errors import AetherFlowError, InputError
    from aetherflow.redaction import Redactor
    from aetherflow.registry import Registry
    from aetherflow.settings import Settings, load_settings
    from aetherflow.spec.environment import runner_env_keys

    environ = os.environ
    problems: list[Issue] = []
    try:
        settings = load_settings(environ).with_overrides(
            bundle_manifest=args.bundle_manifest, allow_stale_bundle=args.allow_stale_bundle or None
        )
    except InputError as exc:
        problems.append(exc.issue)
        settings = Settings()  # the defaults, so the other checks still run
    flow_path = discover_flow_file(args.flow_yaml) if not settings.bundle_manifest else args.flow_yaml
    if flow_path is None and not settings.bundle_manifest:
        raise InputError(_NO_FLOW)
    redactor = Redactor.for_settings(settings)
    redactor.add_env(environ)
    ctx = InspectContext(flow_path or "", settings, redactor, problems=problems)
    ctx.hook_configured = bool((settings.secrets_module or "").strip() or (settings.secrets_path or "").strip())
    try:
        inputs = prepare_inputs(environ, settings, flow_yaml=flow_path, redactor=redactor)
    except AetherFlowError as exc:
        if not isinstance(exc, InputError) and exc.exit_code != 2:
            raise
        ctx.problems.append(getattr(exc, "issue", None) or Issue("bundle:sync_failed", "<root>", str(exc)))
        # Validate against the process env anyway, so the flow's own problems are still reported.
        ctx.env = {**environ, **runner_env_keys(settings.work_root or DEFAULT_WORK_ROOT)}
        ctx.registry = Registry.builtin()
        if not ctx.flow_path:
            raise InputError(str(exc)) from None
        return ctx
    ctx.settings, ctx.hook, ctx.env, ctx.registry = inputs.settings, inputs.hook, inputs.env, inputs.registry
    ctx.flow_path = inputs.flow_path or ctx.flow_path
    ctx.warnings.extend(inputs.warnings)
    ctx.plan_options = inputs.plan_options()
    return ctx


def validate(ctx: InspectContext) -> tuple[Report, Plan | None]:
    """Run the validation pipeline on the prepared flow, with the env and registry ``prepare`` found."""
    from aetherflow.plan import validate_flow
    from aetherflow.registry import Registry

    registry = ctx.registry if ctx.registry is not None else Registry.builtin()
    return validate_flow(ctx.flow_path, settings=ctx.settings, env=ctx.env, registry=registry, **ctx.plan_options)


def records(issues: list[Issue]) -> list[dict[str, Any]]:
    """Issues as the JSON records every command prints."""
    return [issue.as_dict() for issue in issues]
