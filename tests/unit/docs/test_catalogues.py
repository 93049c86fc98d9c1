"""The documented tables have a line for everything the code has: codes, exit codes, settings, step inputs."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from aetherflow.error_codes import CODES, EXIT_CODE_HELP, FAMILIES, is_known
from aetherflow.errors import ExitCode
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from aetherflow.settings_help import RUN_SETTINGS, SETTING_HELP
from aetherflow.steps.input_help import NESTED, input_help

PACKAGE = Path(__file__).resolve().parents[3] / "aetherflow"
#: a string literal that looks like a validation code: family:name
CODE_LITERAL = re.compile(r"""["'](?P<code>(?:""" + "|".join(FAMILIES) + r"""):[a-z_]+)["']""")


def _codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "error_codes.py":
            continue
        found.update(m["code"] for m in CODE_LITERAL.finditer(path.read_text(encoding="utf-8")))
    return found


def test_the_source_uses_codes_at_all() -> None:
    assert {"yaml:syntax", "schema:extra_forbidden", "semantic:cycle"} <= _codes_in_source()


def test_every_code_the_source_uses_is_in_the_catalogue() -> None:
    assert sorted(code for code in _codes_in_source() if not is_known(code)) == []


def test_every_catalogued_code_belongs_to_a_family_and_says_what_it_means() -> None:
    for code, meaning in CODES.items():
        assert code.partition(":")[0] in FAMILIES, code
        assert meaning.strip() and "\n" not in meaning, code


def test_every_exit_code_has_a_meaning() -> None:
    assert [code.name for code in ExitCode if not EXIT_CODE_HELP.get(code.name)] == []


def test_every_setting_has_a_meaning() -> None:
    assert [name for name in Settings.model_fields if not SETTING_HELP.get(name)] == []


def test_the_settings_listed_in_run_help_exist() -> None:
    assert [name for name in RUN_SETTINGS if name not in Settings.model_fields] == []


@pytest.mark.parametrize("step_type", Registry.builtin().step_names())
def test_every_input_of_a_builtin_step_has_a_meaning(step_type: str) -> None:
    model = Registry.builtin().step_class(step_type).inputs_model
    keys = [field.alias or name for name, field in model.model_fields.items()]

    assert [key for key in keys if not input_help(step_type, key)] == []


def _nested_models(annotation: object) -> list[type]:
    found: list[type] = []
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found.extend(_nested_models(arg))
    return found


@pytest.mark.parametrize("step_type", Registry.builtin().step_names())
def test_every_input_of_a_nested_input_section_has_a_meaning(step_type: str) -> None:
    pending = [Registry.builtin().step_class(step_type).inputs_model]
    undocumented = []
    while pending:
        model = pending.pop()
        for field in model.model_fields.values():  # type: ignore[attr-defined]
            for nested in _nested_models(field.annotation):
                key_help = NESTED.get(nested.__name__, {})
                undocumented += [f"{nested.__name__}.{k}" for k in nested.model_fields if not key_help.get(k)]  # type: ignore[attr-defined]
                pending.append(nested)

    assert undocumented == []
