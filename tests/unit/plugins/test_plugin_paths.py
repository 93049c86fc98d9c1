"""Plugin folders (AETHERFLOW_PLUGIN_PATHS): what is executed, in which order, and what a failure does."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.errors import ExitCode
from aetherflow.plugins import PluginLoadError, load_plugins, plugin_module_name
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins import BROKEN_DIR, TYPED_DIR
from tests.unit.plugins.helpers import EventLog, write_plugin

MakeSettings = Callable[..., Settings]

RECORDER = """
import builtins
builtins.__dict__.setdefault("_afplug_order", []).append({name!r})
"""


def test_a_folder_plugin_registers_its_step_and_connector(registry: Registry, make_settings: MakeSettings) -> None:
    warnings = load_plugins(registry, settings=make_settings(paths=[TYPED_DIR]))

    assert warnings == []
    assert registry.has_step("greet")
    assert registry.step_class("greet").__name__ == "Greet"
    assert registry.has_connector("kv:memory")
    assert registry.connector_class("kv:memory").__name__ == "MemoryKv"


def test_a_plugin_file_runs_as_a_module_named_after_its_last_four_path_parts(
    registry: Registry, make_settings: MakeSettings
) -> None:
    load_plugins(registry, settings=make_settings(paths=[TYPED_DIR]))

    module = registry.step_class("greet").__module__
    assert module == plugin_module_name(TYPED_DIR / "greet.py")
    assert module == "aetherflow_user_plugin_" + "_".join((TYPED_DIR / "greet").parts[-4:])
    assert module in sys.modules


def test_files_run_recursively_in_sorted_path_order_and_underscore_files_are_skipped(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    import builtins

    for name in ("b.py", "a/z.py", "a/b.py", "c.py"):
        write_plugin(tmp_path, name, RECORDER.format(name=name))
    write_plugin(tmp_path, "_private.py", "raise RuntimeError('must not run')")
    write_plugin(tmp_path, "notes.txt", "raise RuntimeError('not python')")
    try:
        load_plugins(registry, settings=make_settings(paths=[tmp_path]))
        order = list(builtins.__dict__["_afplug_order"])
    finally:
        builtins.__dict__.pop("_afplug_order", None)

    assert order == ["a/b.py", "a/z.py", "b.py", "c.py"]


def test_the_plugin_folder_is_importable_from_its_files(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    write_plugin(tmp_path, "_afplug_helper.py", "PREFIX = 'helped'\n")
    write_plugin(
        tmp_path,
        "uses_helper.py",
        "from aetherflow.api import Inputs, Step, StepResult, register_step\n"
        "from _afplug_helper import PREFIX\n"
        "class I(Inputs):\n    pass\n"
        "@register_step('helped')\n"
        "class Helped(Step[I]):\n"
        "    inputs_model = I\n"
        "    def run(self, inputs, ctx):\n        return StepResult.success(prefix=PREFIX)\n",
    )

    load_plugins(registry, settings=make_settings(paths=[tmp_path]))

    assert sys.path[0] == str(tmp_path.resolve())
    assert registry.has_step("helped")


def test_a_failing_file_is_an_input_error_under_strict_mode(registry: Registry, make_settings: MakeSettings) -> None:
    with pytest.raises(PluginLoadError) as caught:
        load_plugins(registry, settings=make_settings(paths=[BROKEN_DIR]))

    assert caught.value.exit_code == ExitCode.INVALID
    assert caught.value.issue.code == "plugin:load_failed"
    assert str(caught.value) == f"Failed loading plugin file: {BROKEN_DIR / 'boom.py'}: RuntimeError: boom at import"


def test_a_failing_file_is_a_warning_without_strict_mode_and_loading_goes_on(
    registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    warnings = load_plugins(registry, settings=make_settings(paths=[BROKEN_DIR, TYPED_DIR], strict=False), emit=events)

    assert [(w.code, w.msg) for w in warnings] == [
        ("plugin:load_failed", f"Failed loading plugin file: {BROKEN_DIR / 'boom.py'}: RuntimeError: boom at import")
    ]
    assert events.named("plugin_load_failed") == [
        {"level": "WARNING", "source": str(BROKEN_DIR / "boom.py"), "error": "RuntimeError: boom at import"}
    ]
    assert registry.has_step("greet")


def test_a_file_that_fails_after_registering_contributes_nothing(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    write_plugin(
        tmp_path,
        "half.py",
        "from aetherflow.api import Inputs, Step, register_step\n"
        "@register_step('half_done')\n"
        "class Half(Step[Inputs]):\n"
        "    inputs_model = Inputs\n"
        "    def run(self, inputs, ctx):\n        raise AssertionError\n"
        "raise ImportError('missing dependency')\n",
    )

    load_plugins(registry, settings=make_settings(paths=[tmp_path], strict=False))

    assert not registry.has_step("half_done")


def test_a_missing_plugin_path_is_fatal_under_strict_mode(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(PluginLoadError, match=r"Failed loading plugin file: .*nowhere: .*does not exist"):
        load_plugins(registry, settings=make_settings(paths=[missing]))


def test_a_missing_plugin_path_is_a_warning_without_strict_mode(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    warnings = load_plugins(registry, settings=make_settings(paths=[tmp_path / "nowhere"], strict=False))

    assert [w.code for w in warnings] == ["plugin:load_failed"]


def test_a_duplicate_keeps_the_first_registration_without_strict_mode(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    for name in ("one.py", "two.py"):
        write_plugin(
            tmp_path,
            name,
            "from aetherflow.api import Connector, register_connector\n"
            f"@register_connector('kv', 'dup')\nclass C{name[:3].capitalize()}(Connector):\n    pass\n",
        )

    warnings = load_plugins(registry, settings=make_settings(paths=[tmp_path], strict=False))

    assert [(w.code, w.msg) for w in warnings] == [("plugin:duplicate", "Connector already registered: kv:dup")]
    assert registry.connector_class("kv:dup").__name__ == "COne"


def test_bundle_plugin_folders_replace_the_ambient_ones(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    settings = make_settings(paths=[BROKEN_DIR])

    warnings = load_plugins(registry, settings=settings, extra_paths=[str(TYPED_DIR)])

    assert warnings == []
    assert registry.has_step("greet")
