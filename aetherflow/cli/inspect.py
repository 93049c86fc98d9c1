"""``aetherflow doctor`` and ``aetherflow explain`` (docs/reference/cli.md): look at a flow and its environment.

Both build what a run would build before it executes anything (settings, the secrets hook, the env snapshot, the
validation pipeline of ``aetherflow.plan``) and neither connects anywhere: ``doctor`` turns the findings into a list
of problems (missing env included) plus the environment checks a run would hit only later (state directory and
volume, decode without a hook, the Pushgateway URL); ``explain`` shows where every resource setting comes from,
which env variables it reads, what goes through the secrets hook, and the job order with lock keys.
Every line printed goes through the run's redactor. Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aetherflow.observability.logvalues import loggable

if TYPE_CHECKING:
    from aetherflow.errors import Issue
    from aetherflow.plan import Plan, Report
    from aetherflow.redaction import Redactor
    from aetherflow.registry import Registry
    from aetherflow.settings import Settings
    from aetherflow.spec.secrets import SecretsHook

__all__ = ["register"]

MASK: Final = "***"
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


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow-yaml", dest="flow_yaml", metavar="PATH", help="flow file (default: discovered)")
    parser.add_argument("--bundle-manifest", metavar="PATH", help="bundle manifest providing the flow")
    parser.add_argument("--allow-stale-bundle", action="store_true", help="use the last synced bundle if sync fails")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")


# ------------------------------------------------------------------------------------------------ shared context


@dataclass
class _Context:
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


def _prepare(args: argparse.Namespace, command: str) -> _Context:
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
    ctx = _Context(flow_path or "", settings, redactor, problems=problems)
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


def _validate(ctx: _Context) -> tuple[Report, Plan | None]:
    from aetherflow.plan import validate_flow
    from aetherflow.registry import Registry

    registry = ctx.registry if ctx.registry is not None else Registry.builtin()
    return validate_flow(ctx.flow_path, settings=ctx.settings, env=ctx.env, registry=registry, **ctx.plan_options)


def _records(issues: list[Issue]) -> list[dict[str, Any]]:
    return [issue.as_dict() for issue in issues]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


# ------------------------------------------------------------------------------------------------ doctor


def _doctor(args: argparse.Namespace) -> int:
    from aetherflow.errors import ExitCode
    from aetherflow.plan.env_preflight import MISSING_ENV_CODE, missing_env_names

    ctx = _prepare(args, "doctor")
    report, plan = _validate(ctx)
    problems = [*ctx.problems, *report.errors]
    warnings = list(ctx.warnings)
    for issue in report.warnings:
        # doctor is not strict about env only in name: a missing key is a problem to fix before the run
        (problems if issue.code == MISSING_ENV_CODE else warnings).append(issue)
    if plan is not None and not ctx.hook_configured:
        from aetherflow.edge.inputs import decode_without_hook

        problems.extend(decode_without_hook(plan))
    state_problems, state_warnings = _state_checks(ctx.settings, plan)
    problems.extend(state_problems)
    warnings.extend(state_warnings)
    gateway = _pushgateway_problem(ctx.settings.pushgateway_url)
    if gateway is not None:
        problems.append(gateway)
    if plan is not None:
        from aetherflow.cli.report_checks import report_region_warnings

        warnings.extend(report_region_warnings(plan))
    ok = not problems
    if args.json:
        doc = {
            "ok": ok,
            "flow_yaml": ctx.flow_path,
            "problems": _records(problems),
            "warnings": _records(warnings),
            "missing_env": missing_env_names(problems),
        }
        print(_dumps(loggable(doc, ctx.redactor.mask)))
    else:
        lines = [f"{'OK' if ok else 'FAIL'}: {ctx.flow_path}"]
        lines.extend(f"- {issue}" for issue in problems)
        lines.extend(f"! {issue}" for issue in warnings)
        print(ctx.redactor.mask("\n".join(lines)))
    return int(ExitCode.OK if ok else ExitCode.INVALID)


def _state_checks(settings: Settings, plan: Plan | None) -> tuple[list[Issue], list[Issue]]:
    """Writable state directory and its filesystem (docs/reference/state.md steps 1-3), creating nothing."""
    from aetherflow.errors import Issue, StateInputError
    from aetherflow.state.location import is_url, parse_state_url
    from aetherflow.state.sqlite import database_path
    from aetherflow.state.volume import check_writable, choose_journal_mode, detect_filesystem

    if settings.state_url:
        try:
            location = parse_state_url(settings.state_url, source="AETHERFLOW_STATE_URL")
        except StateInputError as exc:
            return [Issue("settings:invalid", "AETHERFLOW_STATE_URL", str(exc))], []
        if isinstance(location, str):
            return [], []  # PostgreSQL: nothing on this machine to check, and doctor never connects
        configured, loc = str(location), "AETHERFLOW_STATE_URL"
    elif settings.state_path:
        configured, loc = settings.state_path, "AETHERFLOW_STATE_PATH"
    elif plan is not None:
        configured, loc = plan.meta.state_path, "flow.state.path"
    else:
        return [], []  # the flow did not validate: its state path is unknown (the errors say why)
    if loc == "flow.state.path" and is_url(configured):
        return [
            Issue(
                "settings:invalid",
                loc,
                "flow.state.path must be a path: a database URL belongs in AETHERFLOW_STATE_URL or --state",
            )
        ], []
    try:
        db_path = database_path(configured, plan.meta.flow_id if plan is not None else None)
    except StateInputError as exc:
        return [Issue("settings:invalid", loc, str(exc))], []
    directory = db_path.parent
    # The run creates missing parents; probing the nearest existing one tells whether it could, without creating it.
    probe = _existing(directory)
    try:
        if not probe.is_dir():
            raise StateInputError(f"State directory not writable: {directory}")
        check_writable(probe)
    except StateInputError:
        detail = "" if probe == directory else f" (its nearest existing parent {probe} is not a writable directory)"
        return [Issue("settings:invalid", loc, f"State directory not writable: {directory}{detail}")], []
    fstype, network = detect_filesystem(directory)
    try:
        mode, warn = choose_journal_mode(
            fstype, network, settings.state_journal_mode, settings.state_strict_fs, db_path
        )
    except StateInputError as exc:
        return [Issue("settings:invalid", loc, str(exc))], []
    if not warn:
        return [], []
    return [], [
        Issue(
            NETWORK_FS_CODE,
            loc,
            f"State path {db_path} is on a network filesystem ({fstype}); SQLite locking is unreliable there, "
            f"journal mode {mode.upper()} will be used (state_network_fs)",
        )
    ]


def _pushgateway_problem(url: str) -> Issue | None:
    """A malformed ``AETHERFLOW_PUSHGATEWAY_URL`` (parsed only; nothing is pushed). Empty means no push: fine."""
    from urllib.parse import urlsplit

    from aetherflow.errors import Issue

    text = url.strip()
    if not text:
        return None
    # prometheus_client accepts a bare host[:port] and adds http:// itself
    parts = urlsplit(text if "://" in text else f"http://{text}")
    reason: str | None = None
    if any(ch.isspace() for ch in text):
        reason = "it contains whitespace"
    elif parts.scheme not in {"http", "https"}:
        reason = f"unsupported scheme '{parts.scheme}' (use http or https)"
    elif not parts.hostname:
        reason = "it has no host"
    elif parts.query or parts.fragment:
        reason = "it must not have a query or fragment (metrics are pushed to <url>/metrics/job/...)"
    else:
        try:
            parts.port  # noqa: B018 - the property validates the port and raises ValueError
        except ValueError as exc:
            reason = f"invalid port ({exc})"
    if reason is None:
        return None
    shown = parts.netloc.rpartition("@")[2]  # never echo a user:password part
    return Issue(
        "settings:invalid",
        "AETHERFLOW_PUSHGATEWAY_URL",
        f"AETHERFLOW_PUSHGATEWAY_URL is not a valid Pushgateway URL: {reason} "
        f"(got scheme '{parts.scheme}', host '{shown}'; expected http(s)://host[:port][/path])",
    )


# ------------------------------------------------------------------------------------------------ explain


@dataclass(frozen=True)
class _KeyView:
    source: str  # "profile" | "resource"
    shown: str  # the value as printed (masked), or "<missing NAME>"


@dataclass(frozen=True)
class _ResourceView:
    name: str
    kind: str
    driver: str
    profile: str | None
    config: dict[str, _KeyView]
    options: dict[str, _KeyView]
    env_keys: list[str]
    decode: dict[str, Any]


def _explain(args: argparse.Namespace) -> int:
    from aetherflow.errors import ExitCode
    from aetherflow.plan import Report

    ctx = _prepare(args, "explain")
    if ctx.problems:
        report: Report = Report(errors=ctx.problems, warnings=ctx.warnings, flow_path=ctx.flow_path)
        plan = None
    else:
        report, plan = _validate(ctx)
    if plan is None:
        _print_invalid(report, as_json=args.json, mask=ctx.redactor.mask)
        return int(ExitCode.INVALID)
    warnings = [*ctx.warnings, *report.warnings]
    if warnings:
        print(ctx.redactor.mask("\n".join(f"! {issue}" for issue in warnings)), file=sys.stderr)
    views = [_resource_view(plan, name, ctx) for name in plan.resources]
    scope = ctx.settings.locks_scope or plan.meta.locks_scope
    rows = [
        (
            job.id,
            list(job.depends_on),
            _one_line(job.when_text) if job.when_text else None,
            _lock_key(scope, plan.meta.flow_id, job.id),
        )
        for job in plan.jobs
    ]
    if args.json:
        doc = {
            "flow_yaml": ctx.flow_path,
            "flow_id": plan.meta.flow_id,
            "resources": {
                view.name: {
                    "kind": view.kind,
                    "driver": view.driver,
                    "profile": view.profile,
                    "config_keys": {key: kv.source for key, kv in sorted(view.config.items())},
                    "options_keys": {key: kv.source for key, kv in sorted(view.options.items())},
                    "env_keys": view.env_keys,
                    "decode": view.decode,
                }
                for view in views
            },
            "plan": [
                {"job_id": job_id, "depends_on": deps, "when": when, "lock": lock} for job_id, deps, when, lock in rows
            ],
        }
        print(_dumps(loggable(doc, ctx.redactor.mask)))
        return int(ExitCode.OK)
    lines = [f"Flow: {ctx.flow_path}", ""]
    for view in views:
        lines.append(f"Resource: {view.name} ({view.kind}/{view.driver}) profile={view.profile}")
        lines.append(f"  config keys: {_keys_text(view.config)}")
        lines.append(f"  options keys: {_keys_text(view.options)}")
        lines.append(f"  env: {', '.join(view.env_keys) if view.env_keys else '-'}")
        lines.append("  decode:")
        lines.append(f"    {json.dumps(view.decode, sort_keys=True)}")
        lines.append("")
    lines.append("Plan:")
    for number, (job_id, deps, when, lock) in enumerate(rows, start=1):
        lines.append(f"  {number}. {job_id} depends_on=[{', '.join(deps)}] when={when or '-'} lock={lock or '-'}")
    print(ctx.redactor.mask("\n".join(lines)))
    return int(ExitCode.OK)


def _print_invalid(report: Report, *, as_json: bool, mask: Any) -> None:
    """The ``validate`` layout (docs/reference/cli.md) for a flow that does not validate."""
    if as_json:
        print(_dumps(loggable(report.as_dict(), mask)))
        return
    lines = [f"INVALID: {report.flow_path}"]
    lines.extend(f"- {issue}" for issue in report.errors)
    lines.extend(f"! {issue}" for issue in report.warnings)
    print(mask("\n".join(lines)))


def _lock_key(scope: str, flow_id: str, job_id: str) -> str | None:
    """The implicit lock of a job under the effective scope (docs/concepts/locks.md)."""
    if scope == "flow":
        return f"flow:{flow_id}"
    if scope == "job":
        return f"job:{flow_id}:{job_id}"
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _keys_text(keys: Mapping[str, _KeyView]) -> str:
    if not keys:
        return "-"
    return ", ".join(f"{key}={kv.shown} ({kv.source})" for key, kv in sorted(keys.items()))


def _resource_view(plan: Plan, name: str, ctx: _Context) -> _ResourceView:
    """Render a resource like the run does (env root), without decoding: decode targets are secrets, shown ``***``."""
    from aetherflow.plan.env_preflight import env_names
    from aetherflow.spec.resources import decode_paths, merge_resource, register_secret_keys

    res = plan.resources[name]
    profile = plan.profiles.get(res.profile) if res.profile else None
    merged = merge_resource(res, profile)
    redactor = ctx.redactor
    rendered: dict[str, dict[str, Any]] = {}
    missing: dict[str, dict[str, str]] = {}
    for section, values in (("config", merged.config), ("options", merged.options)):
        rendered[section], missing[section] = _render_section(values, ctx.env)
        for path in decode_paths(merged.decode, section):
            _mask_decode_target(rendered[section], path, redactor)
        register_secret_keys(rendered[section], redactor)
    views: dict[str, dict[str, _KeyView]] = {}
    for section in ("config", "options"):
        sources = merged.sources[section]
        views[section] = {}
        for key in sources:
            if key in missing[section]:
                shown = f"<missing {missing[section][key]}>"
            else:
                shown = redactor.mask(_format_value(_mask_secret_names(key, rendered[section][key], redactor)))
            views[section][key] = _KeyView(sources[key], shown)
    env_keys = sorted(env_names(merged.config) | env_names(merged.options))
    decode = {key: value for key, value in merged.decode.items() if value}
    return _ResourceView(name, res.kind, res.driver, res.profile, views["config"], views["options"], env_keys, decode)


def _render_section(values: Mapping[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each top-level key rendered on its own, so one missing env variable does not hide the other keys."""
    from aetherflow.errors import TemplateMissingKey, TemplateSyntaxError
    from aetherflow.templating import ENV_ROOTS, render

    out: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for key, value in values.items():
        try:
            out[key] = render(value, {"env": env}, ENV_ROOTS)
        except TemplateMissingKey as exc:
            missing[key] = exc.path.removeprefix("env.")
        except TemplateSyntaxError:
            out[key] = value  # reported by validation; shown as written
    return out, missing


def _mask_decode_target(tree: dict[str, Any], path: str, redactor: Redactor) -> None:
    """Replace a decode target's string with ``***`` and register the raw value (a secret by the redaction rules)."""
    from aetherflow.spec.resources import replace_decode_target

    def masked(raw: str) -> str:
        redactor.add(raw)
        return MASK

    replace_decode_target(tree, path, masked)


def _mask_secret_names(key: str, value: Any, redactor: Redactor) -> Any:
    """Every scalar under a secret-named key becomes ``***`` (short values too: explain errs on the safe side)."""
    if redactor.is_secret_name(str(key)):
        return _mask_all(value)
    if isinstance(value, Mapping):
        return {k: _mask_secret_names(str(k), v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secret_names("", v, redactor) for v in value]
    return value


def _mask_all(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return None if value is None else MASK


def _format_value(value: Any) -> str:
    """Strings as they are (JSON-quoted when they hold a line break); anything else as JSON."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if any(ch in value for ch in "\r\n") else value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _existing(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
