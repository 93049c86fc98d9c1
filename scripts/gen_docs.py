"""Write the generated sections of ``docs/`` from their single sources; ``--check`` fails when a section drifted.

A section lies between ``<!-- BEGIN GENERATED: NAME -->`` and ``<!-- END GENERATED: NAME -->`` in a page; only the
text between the markers is rewritten. Sections and their sources:

* ``settings``: the ``Settings`` fields (name, type, default) and their meanings in ``aetherflow.settings_help``;
* ``exit-codes``: ``aetherflow.errors.ExitCode`` with the meanings in ``aetherflow.error_codes``;
* ``error-codes``: the code catalogue ``aetherflow.error_codes``;
* ``flow-fields``: the flow schema (``aetherflow.spec.model``) with the meanings in ``aetherflow.spec.field_help``;
* ``step:TYPE``: the input model of the built-in step TYPE, with ``aetherflow.steps.input_help``;
* ``cli:COMMAND``: the ``--help`` text of a command, from the argparse parser.

Every built-in step, every command and the three tables must have a section somewhere, else ``--check`` fails too.
Run after changing any of those sources::

    python scripts/gen_docs.py          # rewrite docs/
    python scripts/gen_docs.py --check  # exit 1 and name the stale sections
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SECTION = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[^ ]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.DOTALL
)
#: argparse wraps help text to the terminal width; fixed here so the output does not depend on the terminal
HELP_COLUMNS = "100"


# -- tables -----------------------------------------------------------------------------------------------------------
def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def settings_section() -> str:
    """Every setting: variable, type, default, meaning."""
    from aetherflow.settings import PREFIX, Settings
    from aetherflow.settings_help import SETTING_HELP

    rows = []
    for name, type_text, default in _setting_fields(Settings):
        rows.append((f"`{PREFIX}{name.upper()}`", type_text, _default_text(default), SETTING_HELP.get(name, "")))
    return _table(("Variable", "Type", "Default", "Meaning"), rows)


def _setting_fields(settings: Any) -> Iterator[tuple[str, str, object]]:
    """(name, type text, default) of each setting, from the dataclass's field metadata or a pydantic model."""
    if not dataclasses.is_dataclass(settings):
        for name, field in settings.model_fields.items():
            type_text = ", ".join([_type_text(field.annotation), *_bounds(field)])
            literal = _literal_values(field.annotation)
            if literal:
                type_text = " | ".join(f"`{v}`" for v in literal)
            # list fields are read as JSON text (pydantic-settings' NoDecode marks them)
            if any(getattr(m, "__name__", "") == "NoDecode" for m in field.metadata):
                type_text = "JSON list"
            yield name, type_text, None if field.is_required() else field.get_default(call_default_factory=True)
        return
    shown = {"str": "string", "bool": "boolean", "int": "integer", "float": "number", "list": "JSON list"}
    for f in dataclasses.fields(settings):
        meta = f.metadata
        kind = meta["kind"]
        type_text = " | ".join(f"`{c}`" for c in meta["choices"]) if kind == "choice" else shown[kind]
        if "ge" in meta:
            type_text += f", ≥ {meta['ge']}"
        if "gt" in meta:
            type_text += f", > {meta['gt']}"
        if "one_of" in meta:
            type_text += ": " + " or ".join(f"`{v}`" for v in meta["one_of"])
        yield f.name, type_text, f.default


def _default_text(value: object) -> str:
    if value is None or value == () or value is dataclasses.MISSING:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str) and value == "":
        return '`""`'
    return f"`{value}`"


def exit_codes_section() -> str:
    """Every exit code with its meaning."""
    from aetherflow.error_codes import EXIT_CODE_HELP
    from aetherflow.errors import ExitCode

    rows = [(f"`{int(code)}`", code.name, EXIT_CODE_HELP.get(code.name, "")) for code in ExitCode]
    return _table(("Code", "Name", "Meaning"), rows)


def error_codes_section() -> str:
    """Every validation code with its meaning, grouped by family."""
    from aetherflow.error_codes import CODES, FAMILIES

    out = []
    for family, meaning in FAMILIES.items():
        rows = [(f"`{code}`", text) for code, text in CODES.items() if code.partition(":")[0] == family]
        out.append(f"### `{family}`\n\n{meaning}\n\n" + _table(("Code", "Meaning"), rows))
    return "\n".join(out)


# -- flow fields ------------------------------------------------------------------------------------------------------
#: definitions of the flow schema in reading order, with the YAML path each one describes
FLOW_SECTIONS = (
    ("<root>", "top level"),
    ("Flow", "flow"),
    ("Workspace", "flow.workspace"),
    ("WorkspaceLayout", "flow.workspace.layout"),
    ("State", "flow.state"),
    ("Locks", "flow.locks"),
    ("Resource", "resources.<name>"),
    ("Decode", "resources.<name>.decode"),
    ("Job", "jobs[]"),
    ("Step", "jobs[].steps[]"),
    ("Retry", "jobs[].steps[].retry"),
    ("RetryOn", "jobs[].steps[].retry.retry_on"),
)


def _json_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "mapping"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " | ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(dict.fromkeys(_json_type(p) for p in prop["anyOf"]))
    names = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "null": "null"}
    kind = prop.get("type")
    if kind == "array":
        return "list of " + _json_type(prop.get("items", {})) + "s"
    if kind == "object":
        return "mapping"
    text = names.get(str(kind), "any")
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">")):
        if key in prop:
            text += f" {sign} {prop[key]}"
    return text


def flow_fields_section() -> str:
    """Every field of a flow file: type, default, meaning (from the flow schema and its field meanings)."""
    from aetherflow.spec.field_help import FIELD_HELP
    from aetherflow.spec.json_schema import flow_json_schema_base

    document = flow_json_schema_base()
    out = []
    for name, where in FLOW_SECTIONS:
        schema = document if name == "<root>" else document["$defs"].get(name)
        if schema is None:
            continue
        required = set(schema.get("required", ()))
        rows = []
        for key, prop in schema.get("properties", {}).items():
            default = "required" if key in required else _json_default(prop)
            rows.append((f"`{key}`", _json_type(prop), default, FIELD_HELP.get(name, {}).get(key, "")))
        out.append(f"### `{where}`\n\n" + _table(("Field", "Type", "Default", "Meaning"), rows))
    return "\n".join(out)


def _json_default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "—"
    value = prop["default"]
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


# -- step inputs ------------------------------------------------------------------------------------------------------
def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_fields")


def _type_text(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp)]
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [_type_text(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "string"
    if origin in (list, tuple):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict or tp is dict:
        return "mapping"
    if _is_model(tp):
        return "mapping"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", typing.Any: "any"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _literal_values(tp: Any) -> tuple[str, ...]:
    if typing.get_origin(tp) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    values: list[str] = []
    for arg in typing.get_args(tp):
        values.extend(_literal_values(arg))
    return tuple(values)


def _nested_model(tp: Any) -> Any:
    if _is_model(tp):
        return tp
    for arg in typing.get_args(tp):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _bounds(field: Any) -> list[str]:
    out = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length")):
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return out


def _input_default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.is_required():
        return "required"
    value = field.default_factory() if field.default is PydanticUndefined and field.default_factory else field.default
    if hasattr(value, "model_dump"):
        return "see below"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value!r}`" if value.strip() != value or value == "" else f"`{value}`"
    return f"`{value}`"


def _input_rows(step_type: str, model: Any, prefix: str = "") -> Iterator[tuple[str, ...]]:
    from aetherflow.steps.input_help import ALLOWED, NESTED, input_help

    allowed_map = ALLOWED.get(step_type, {})
    for name, field in model.model_fields.items():
        key = field.alias or name
        tp = field.annotation
        allowed = list(_literal_values(tp)) or list(allowed_map.get(key, ()) if not prefix else ())
        allowed_text = ", ".join(f"`{v}`" for v in allowed)
        allowed_text = ", ".join(filter(None, [allowed_text, *_bounds(field)]))
        meaning = NESTED.get(model.__name__, {}).get(key, "") if prefix else input_help(step_type, key) or ""
        yield (f"`{prefix}{key}`", _type_text(tp), _input_default(field), allowed_text, meaning)
        nested = _nested_model(tp)
        if nested is not None:
            is_list = typing.get_origin(tp) is list or any(typing.get_origin(a) is list for a in typing.get_args(tp))
            yield from _input_rows(step_type, nested, f"{prefix}{key}{'[]' if is_list else ''}.")


def step_section(step_type: str) -> str:
    """The inputs table of one built-in step, and the output keys validation lets templates read of it."""
    from aetherflow.registry import Registry

    cls = Registry.builtin().step_class(step_type)
    rows = list(_input_rows(step_type, cls.inputs_model))
    table = _table(("Input", "Type", "Default", "Allowed", "Meaning"), rows)
    if cls.result_keys is None:
        return table
    keys = ", ".join(f"`{key}`" for key in sorted(cls.result_keys | {"skipped", "reason"}))
    return f"{table}\nOutput keys (what `steps.<id>.<key>` and `result.<key>` may read): {keys}.\n"


# -- CLI --------------------------------------------------------------------------------------------------------------
def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    os.environ["COLUMNS"] = HELP_COLUMNS
    from aetherflow.cli import build_parser

    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())
        if path:
            found[path] = parser

    walk(build_parser(), "")
    return found


def cli_section(command: str) -> str:
    """``aetherflow COMMAND --help``, as a text block."""
    parser = _command_parsers()[command]
    return "```text\n" + parser.format_help().rstrip() + "\n```\n"


# -- driver -----------------------------------------------------------------------------------------------------------
def _generator(name: str) -> Callable[[], str]:
    fixed: dict[str, Callable[[], str]] = {
        "settings": settings_section,
        "exit-codes": exit_codes_section,
        "error-codes": error_codes_section,
        "flow-fields": flow_fields_section,
    }
    if name in fixed:
        return fixed[name]
    family, _, arg = name.partition(":")
    if family == "step":
        return lambda: step_section(arg)
    if family == "cli":
        return lambda: cli_section(arg.replace("_", " "))
    raise SystemExit(f"unknown generated section {name!r}")


def required_sections() -> set[str]:
    """Every section the docs must contain."""
    from aetherflow.registry import Registry

    names = {"settings", "exit-codes", "error-codes", "flow-fields"}
    names |= {f"step:{t}" for t in Registry.builtin().step_names()}
    names |= {"cli:" + c.replace(" ", "_") for c, p in _command_parsers().items() if not _has_subcommands(p)}
    return names


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def render(text: str) -> tuple[str, list[str]]:
    """``text`` with its generated sections rewritten, and the names of the sections found."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        names.append(match["name"])
        return match.group(1) + _generator(match["name"])() + match.group(4)

    return SECTION.sub(replace, text), names


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) every page under docs/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a section is stale")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs directory (default: docs/)")
    args = parser.parse_args(argv)
    stale: list[str] = []
    seen: set[str] = set()
    for page in sorted(args.docs.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        new, names = render(text)
        seen.update(names)
        if new != text:
            stale.append(str(page.relative_to(args.docs.parent)))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    missing = sorted(required_sections() - seen)
    for name in missing:
        print(f"missing generated section: <!-- BEGIN GENERATED: {name} --> (add it to a page under docs/)")
    if args.check and stale:
        for page in stale:
            print(f"stale: {page} (run: python scripts/gen_docs.py)")
    elif stale:
        print("rewrote: " + ", ".join(stale))
    return 1 if missing or (args.check and stale) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
