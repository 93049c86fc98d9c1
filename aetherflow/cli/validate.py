"""``aetherflow validate`` and ``aetherflow schema`` (docs/reference/cli.md).

``validate`` runs the same validation as the start of ``run`` (docs/reference/flow-yaml.md) with the env snapshot a run
would use, executes nothing and creates no state. ``schema`` prints the JSON Schema generated from the same definitions.
Heavy modules are imported inside the handlers: ``aetherflow --help`` pays for none of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from aetherflow.observability.logvalues import loggable

if TYPE_CHECKING:
    from aetherflow.errors import Issue
    from aetherflow.plan import Report
    from aetherflow.registry import Registry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``validate`` and ``schema`` commands."""
    validate = subparsers.add_parser(
        "validate",
        help="validate a flow file (schema, semantics, templates, profiles); executes nothing",
        description="Validate a flow file with the env snapshot a run would use. Exit 0 if valid, 2 otherwise.",
    )
    validate.add_argument("flow", nargs="?", metavar="FLOW", help="flow file (same as --flow-yaml)")
    validate.add_argument("--flow-yaml", dest="flow_yaml", metavar="PATH", help="flow file to validate")
    validate.add_argument("--bundle-manifest", metavar="PATH", help="bundle manifest providing the flow")
    validate.add_argument("--allow-stale-bundle", action="store_true", help="use the last synced bundle if sync fails")
    validate.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    validate.set_defaults(handler=_validate, parser=validate)

    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of flows, profiles or bundle manifests",
        description="Print (or write) the JSON Schema (draft 2020-12) generated from the validation models.",
    )
    schema.add_argument("--kind", choices=("flow", "profiles", "manifest"), default="flow")
    schema.add_argument("--output", metavar="PATH", help="write the schema to PATH instead of stdout")
    schema.set_defaults(handler=_schema)


def _validate(args: argparse.Namespace) -> int:
    from aetherflow.edge.inputs import prepare_inputs
    from aetherflow.errors import AetherFlowError, ExitCode, InputError
    from aetherflow.plan import Report, validate_flow
    from aetherflow.redaction import Redactor
    from aetherflow.settings import load_settings

    if args.flow and args.flow_yaml and args.flow != args.flow_yaml:
        args.parser.error("give the flow file once: FLOW or --flow-yaml")
    flow_path = args.flow_yaml or args.flow
    if not flow_path and not args.bundle_manifest:
        args.parser.error("the following arguments are required: --flow-yaml")
    redactor = Redactor()
    try:
        settings = load_settings(os.environ).with_overrides(
            bundle_manifest=args.bundle_manifest, allow_stale_bundle=args.allow_stale_bundle or None
        )
        redactor = Redactor.for_settings(settings)
        inputs = prepare_inputs(os.environ, settings, flow_yaml=flow_path, redactor=redactor)
    except InputError as exc:  # an invalid bundle manifest carries every record in ``issues``
        errors = list(getattr(exc, "issues", None) or [exc.issue])
        report = Report(errors=errors, warnings=[], flow_path=flow_path or args.bundle_manifest)
    except AetherFlowError as exc:  # a bundle that could not be synced
        if exc.exit_code != ExitCode.INVALID:
            raise
        issue = Issue("bundle:sync_failed", "<root>", str(exc))
        report = Report(errors=[issue], warnings=[], flow_path=flow_path or args.bundle_manifest)
    else:
        report, plan = validate_flow(
            inputs.flow_path or "",
            settings=inputs.settings,
            env=inputs.env,
            registry=inputs.registry,
            **inputs.plan_options(),
        )
        if plan is not None:
            report.errors.extend(inputs.hook_problems(plan))  # what the run refuses at start, found here too
        report.warnings[:0] = inputs.warnings
    _print_report(report, as_json=args.json, mask=redactor.mask)
    return int(ExitCode.OK if report.ok else ExitCode.INVALID)


def _print_report(report: Report, *, as_json: bool, mask: Any) -> None:
    if as_json:
        print(json.dumps(loggable(report.as_dict(), mask), ensure_ascii=False))
        return
    lines = [f"{'OK' if report.ok else 'INVALID'}: {report.flow_path}"]
    lines.extend(f"- {_issue_text(issue)}" for issue in report.errors)
    lines.extend(f"! {_issue_text(issue)}" for issue in report.warnings)
    print(mask("\n".join(lines)))


def _issue_text(issue: Issue) -> str:
    return str(issue)


def _schema(args: argparse.Namespace) -> int:
    from aetherflow.errors import InputError
    from aetherflow.registry import Registry
    from aetherflow.spec.json_schema import manifest_json_schema, profiles_json_schema

    if args.kind == "flow":
        document = flow_json_schema(Registry.builtin())
    elif args.kind == "profiles":
        document = profiles_json_schema()
        _describe_definitions(document)
    else:
        document = manifest_json_schema()
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise InputError(f"Cannot write schema to {args.output}: {exc.strerror or type(exc).__name__}") from None
    else:
        sys.stdout.write(text)
    return 0


#: a string holding a template token: accepted wherever a step input is typed otherwise (rendered at run time)
_TEMPLATE_DEF = {
    "type": "string",
    "pattern": "\\{\\{.*\\}\\}",
    "description": "A template ({{PATH}} or {{PATH:DEFAULT}}), rendered just before the step runs",
}


def flow_json_schema(registry: Registry) -> dict[str, Any]:
    """The flow JSON Schema with an ``if type == X then inputs`` branch per loadable step type and a
    ``config``/``options`` key list per connector that declares its keys.

    Every property carries a description; ``type`` offers the registered step types (any other string stays valid,
    so a plugin loaded elsewhere is not flagged). Step or connector modules that cannot be imported are left out
    (the schema is advisory).
    """
    from aetherflow.spec.field_help import FIELD_HELP
    from aetherflow.spec.json_schema import flow_json_schema_base

    document = flow_json_schema_base()
    defs: dict[str, Any] = document["$defs"]
    _describe(document, FIELD_HELP["<root>"])
    _describe_definitions(document)
    defs["Template"] = dict(_TEMPLATE_DEF)
    step_branches = _step_branches(registry, defs)
    if step_branches:
        defs["Step"]["allOf"] = step_branches
    step_type = defs["Step"]["properties"]["type"]
    known = {"enum": registry.step_names(), "description": "A built-in or plugin step type"}
    defs["Step"]["properties"]["type"] = {
        "anyOf": [known, {"type": "string", "minLength": 1}],
        "description": step_type.get("description", ""),
    }
    resource_branches = _resource_branches(registry)
    if resource_branches:
        defs["Resource"]["allOf"] = resource_branches
    return document


def _describe_definitions(document: dict[str, Any]) -> None:
    """Describe the properties of every definition the field table explains."""
    from aetherflow.spec.field_help import FIELD_HELP

    for name, definition in document.get("$defs", {}).items():
        _describe(definition, FIELD_HELP.get(name, {}))


def _describe(schema: dict[str, Any], help_table: dict[str, str]) -> None:
    """Set ``description`` on each property of ``schema`` that the table explains."""
    for key, prop in schema.get("properties", {}).items():
        if key in help_table:
            prop["description"] = help_table[key]


def _step_branches(registry: Registry, defs: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``if type == X then inputs`` branch per step type with an input model; its definitions go to ``defs``."""
    from aetherflow.steps.input_help import NESTED

    branches: list[dict[str, Any]] = []
    for name in registry.step_names():
        try:
            cls = registry.step_class(name)
        except (ImportError, AttributeError):
            continue
        model = getattr(cls, "inputs_model", None)
        if model is None or not hasattr(model, "model_json_schema"):
            continue
        ref = f"StepInputs.{name}"
        inputs = model.model_json_schema(ref_template=f"#/$defs/{ref}.{{model}}", mode="validation")
        for sub_name, sub in inputs.pop("$defs", {}).items():
            _describe(sub, NESTED.get(sub_name, {}))
            defs[f"{ref}.{sub_name}"] = sub
        _type_inputs(name, inputs)
        inputs.pop("title", None)
        inputs["title"] = f"Inputs of {name}"
        defs[ref] = inputs
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"inputs": {"$ref": f"#/$defs/{ref}"}}},
            }
        )
    return branches


def _type_inputs(step_type: str, inputs: dict[str, Any]) -> None:
    """Each input: its model's schema (narrowed to the values the step accepts) or a template, and its meaning."""
    from aetherflow.steps.input_help import ALLOWED, input_help

    allowed = ALLOWED.get(step_type, {})
    for key, prop in list(inputs.get("properties", {}).items()):
        if key in allowed:
            values = list(dict.fromkeys([*allowed[key], *(v.upper() for v in allowed[key])]))
            prop = {k: v for k, v in prop.items() if k != "type"} | {"enum": values}
        wrapped: dict[str, Any] = {"anyOf": [prop, {"$ref": "#/$defs/Template"}]}
        meaning = input_help(step_type, key)
        if meaning:
            wrapped["description"] = meaning
        if "default" in prop:
            wrapped["default"] = prop["default"]
        inputs["properties"][key] = wrapped


def _resource_branches(registry: Registry) -> list[dict[str, Any]]:
    """One ``if kind/driver then config/options keys`` branch per connector that declares its keys."""
    branches: list[dict[str, Any]] = []
    for key in registry.connector_names():
        try:
            connector = registry.connector_class(key)
        except (ImportError, AttributeError):
            continue
        kind, _, driver = key.partition(":")
        then: dict[str, Any] = {}
        for section in ("config", "options"):
            keys = getattr(connector, f"{section}_keys", None)
            if keys is not None:
                then[section] = {"type": "object", "propertyNames": {"enum": sorted(keys)}}
        if then:
            branches.append(
                {
                    "if": {
                        "properties": {"kind": {"const": kind}, "driver": {"const": driver}},
                        "required": ["kind", "driver"],
                    },
                    "then": {"properties": then},
                }
            )
    return branches
