"""``aetherflow explain``: where every resource setting comes from (profile or resource), which env variables it reads,
what goes through the secrets hook (shown ``***``), and the job order with lock keys. Connects nowhere."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aetherflow.cli.common import dumps
from aetherflow.cli.inspect import MASK, InspectContext, prepare, validate
from aetherflow.observability.logvalues import loggable

if TYPE_CHECKING:
    from aetherflow.plan import Plan, Report
    from aetherflow.redaction import Redactor


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


def explain(args: argparse.Namespace) -> int:
    """The ``explain`` command: exit 0 with the explanation, 2 when the flow does not validate."""
    from aetherflow.errors import ExitCode
    from aetherflow.plan import Report

    ctx = prepare(args, "explain")
    if ctx.problems:
        report: Report = Report(errors=ctx.problems, warnings=ctx.warnings, flow_path=ctx.flow_path)
        plan = None
    else:
        report, plan = validate(ctx)
    if plan is None:
        _print_invalid(report, as_json=args.json, mask=ctx.redactor.mask)
        return int(ExitCode.INVALID)
    warnings = [*ctx.warnings, *report.warnings]
    if warnings:
        print(ctx.redactor.mask("\n".join(f"! {issue}" for issue in warnings)), file=sys.stderr)
    views = [_resource_view(plan, name, ctx) for name in plan.resources]
    scope = ctx.settings.locks_scope or plan.meta.locks_scope
    rows: list[_Row] = [
        (
            job.id,
            list(job.depends_on),
            _one_line(job.when_text) if job.when_text else None,
            _lock_key(scope, plan.meta.flow_id, job.id),
        )
        for job in plan.jobs
    ]
    if args.json:
        print(dumps(loggable(_explain_json(ctx, plan, views, rows), ctx.redactor.mask)))
    else:
        print(ctx.redactor.mask(_explain_text(ctx, views, rows)))
    return int(ExitCode.OK)


_Row = tuple[str, list[str], str | None, str | None]  # job id, depends_on, when (one line), lock key


def _explain_json(ctx: InspectContext, plan: Plan, views: list[_ResourceView], rows: list[_Row]) -> dict[str, Any]:
    return {
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


def _explain_text(ctx: InspectContext, views: list[_ResourceView], rows: list[_Row]) -> str:
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
    return "\n".join(lines)


def _print_invalid(report: Report, *, as_json: bool, mask: Any) -> None:
    """The ``validate`` layout (docs/reference/cli.md) for a flow that does not validate."""
    if as_json:
        print(dumps(loggable(report.as_dict(), mask)))
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


def _resource_view(plan: Plan, name: str, ctx: InspectContext) -> _ResourceView:
    """Render a resource like the run does (env root), without decoding: decode targets are secrets, shown ``***``."""
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
    env_keys = sorted(_env_names(merged.config) | _env_names(merged.options))
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


def _env_names(value: Any) -> set[str]:
    """The env variable names the templates in ``value`` read (with or without a default)."""
    from aetherflow.errors import TemplateSyntaxError
    from aetherflow.templating import has_template, iter_strings, parse

    names: set[str] = set()
    for _loc, text in iter_strings(value, ""):
        if not has_template(text):
            continue
        try:
            template = parse(text, None)
        except TemplateSyntaxError:
            continue
        for token in template.tokens:
            segments = token.path.split(".")
            if token.root == "env" and len(segments) > 1:
                names.add(segments[1])
    return names
