"""Entry-point plugins: ``aetherflow.plugins`` (called at load) and the lazy ``aetherflow.steps``/``connectors``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.plugins import PluginLoadError, load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins.dist import make_distribution

MakeSettings = Callable[..., Settings]

STEP_MODULE = """
from aetherflow.api import Inputs, Step, StepResult, register_step

class EchoInputs(Inputs):
    text: str

class Echo(Step[EchoInputs]):
    inputs_model = EchoInputs

    def run(self, inputs, ctx):
        return StepResult.success(text=inputs.text)

def register():
    register_step("{step}")(Echo)
"""


def _install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str], eps: dict[str, dict[str, str]]
) -> None:
    root = make_distribution(tmp_path / "site", f"afplug-{uuid.uuid4().hex[:8]}", modules=modules, entry_points=eps)
    monkeypatch.syspath_prepend(str(root))


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"afplug_{tag}", f"echo_{tag}"


def test_a_callable_entry_point_is_called_and_registers_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    module, step = _names()
    _install(
        tmp_path,
        monkeypatch,
        {module: STEP_MODULE.format(step=step)},
        {"aetherflow.plugins": {"echo": f"{module}:register"}},
    )

    assert load_plugins(registry, settings=make_settings()) == []

    assert registry.step_class(step).__name__ == "Echo"


def test_an_entry_point_object_with_a_register_method_is_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    module, step = _names()
    _install(tmp_path, monkeypatch, {module: STEP_MODULE.format(step=step)}, {"aetherflow.plugins": {"echo": module}})

    load_plugins(registry, settings=make_settings())

    assert registry.has_step(step)


def test_entry_point_code_runs_once_per_process_and_its_registrations_reach_every_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: MakeSettings
) -> None:
    module, step = _names()
    source = (
        STEP_MODULE.format(step=step)
        + "\nCALLS = []\n_orig = register\ndef register():\n    CALLS.append(1)\n    _orig()\n"
    )
    _install(tmp_path, monkeypatch, {module: source}, {"aetherflow.plugins": {"echo": f"{module}:register"}})
    first, second = Registry.builtin(), Registry.builtin()

    load_plugins(first, settings=make_settings())
    load_plugins(second, settings=make_settings())

    assert first.has_step(step) and second.has_step(step)
    assert sys.modules[module].CALLS == [1]


def test_a_failing_entry_point_is_fatal_under_strict_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    module, _step = _names()
    _install(
        tmp_path,
        monkeypatch,
        {module: "def register():\n    raise KeyError('api_key')\n"},
        {"aetherflow.plugins": {"broken-ep": f"{module}:register"}},
    )

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(registry, settings=make_settings())

    assert caught.value.issue.code == "plugin:load_failed"
    assert str(caught.value) == "Failed loading entry point plugin broken-ep: KeyError: api_key"


def test_an_entry_point_that_cannot_be_imported_is_a_warning_without_strict_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    _install(tmp_path, monkeypatch, {}, {"aetherflow.plugins": {"ghost": "afplug_not_there:register"}})

    warnings = load_plugins(registry, settings=make_settings(strict=False))

    assert len(warnings) == 1
    assert warnings[0].msg.startswith("Failed loading entry point plugin ghost: ModuleNotFoundError:")


def test_lazy_step_entry_points_import_nothing_until_the_step_class_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    module, step = _names()
    _install(
        tmp_path, monkeypatch, {module: STEP_MODULE.format(step=step)}, {"aetherflow.steps": {step: f"{module}:Echo"}}
    )

    load_plugins(registry, settings=make_settings())

    assert registry.has_step(step)
    assert module not in sys.modules
    assert registry.step_class(step).__name__ == "Echo"
    assert module in sys.modules


def test_lazy_connector_entry_points_are_registered_under_kind_and_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    module, _step = _names()
    source = "from aetherflow.api import Connector\nclass Fake(Connector):\n    pass\n"
    _install(tmp_path, monkeypatch, {module: source}, {"aetherflow.connectors": {"fake:one": f"{module}:Fake"}})

    load_plugins(registry, settings=make_settings())

    assert registry.has_connector("fake:one")
    assert module not in sys.modules
    assert registry.connector_class("fake:one").__name__ == "Fake"


def test_a_lazy_entry_point_shadowing_a_built_in_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    _install(tmp_path, monkeypatch, {}, {"aetherflow.connectors": {"db:sqlite3": "afplug_x:Other"}})

    with pytest.raises(PluginLoadError, match=r"^Connector already registered: db:sqlite3$"):
        load_plugins(registry, settings=make_settings())


def test_a_malformed_lazy_entry_point_is_a_load_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry, make_settings: MakeSettings
) -> None:
    _install(tmp_path, monkeypatch, {}, {"aetherflow.steps": {"no_class": "afplug_module_only"}})

    warnings = load_plugins(registry, settings=make_settings(strict=False))

    assert [w.code for w in warnings] == ["plugin:load_failed"]
    assert "module:Class" in warnings[0].msg
    assert not registry.has_step("no_class")
