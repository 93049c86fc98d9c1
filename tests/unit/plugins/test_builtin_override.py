"""A plugin may replace a built-in step type (with a warning), except in enterprise mode; other duplicates fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.plugins import PluginLoadError, load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.unit.plugins.helpers import EventLog, write_plugin

MakeSettings = Callable[..., Settings]

TYPED_CHECK_ITEMS = (
    "from aetherflow.api import Inputs, Step, StepResult, register_step\n"
    "@register_step('check_items')\n"
    "class Mine(Step[Inputs]):\n"
    "    inputs_model = Inputs\n"
    "    def run(self, inputs, ctx):\n        return StepResult.success({'mine': True})\n"
)


def test_a_plugin_step_replaces_the_built_in_of_the_same_name_with_a_warning_event(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    path = write_plugin(tmp_path, "mine.py", TYPED_CHECK_ITEMS)

    warnings = load_plugins(registry, settings=make_settings(paths=[tmp_path]), emit=events)

    assert registry.step_class("check_items").__name__ == "Mine"
    assert not registry.is_builtin_step("check_items")
    assert [w.code for w in warnings] == ["plugin:overrides_builtin"]
    assert events.named("plugin_overrides_builtin") == [
        {"level": "WARNING", "step_type": "check_items", "source": str(path)}
    ]


def test_a_legacy_plugin_may_override_a_built_in_step_too(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    write_plugin(
        tmp_path,
        "excel.py",
        "from aetherflow.core.api import Step, register_step\n"
        "@register_step('excel_validate_template')\n"
        "class Mine(Step):\n    def run(self):\n        return {}\n",
    )

    load_plugins(registry, settings=make_settings(paths=[tmp_path]), emit=events)

    assert registry.step_class("excel_validate_template").legacy_class.__name__ == "Mine"
    assert [e["step_type"] for e in events.named("plugin_overrides_builtin")] == ["excel_validate_template"]


def test_enterprise_mode_refuses_to_override_a_built_in_step(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    write_plugin(tmp_path, "mine.py", TYPED_CHECK_ITEMS)

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(
            registry,
            settings=make_settings(),
            extra_paths=[str(tmp_path)],
            trusted_paths=[str(tmp_path)],
            enterprise=True,
        )

    assert caught.value.issue.code == "plugin:duplicate"
    assert "check_items" in str(caught.value)
    assert "enterprise" in str(caught.value)
    assert registry.is_builtin_step("check_items")


def test_enterprise_mode_without_strict_keeps_the_built_in(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    write_plugin(tmp_path, "mine.py", TYPED_CHECK_ITEMS)

    warnings = load_plugins(
        registry,
        settings=make_settings(strict=False),
        extra_paths=[str(tmp_path)],
        trusted_paths=[str(tmp_path)],
        enterprise=True,
    )

    assert [w.code for w in warnings] == ["plugin:duplicate"]
    assert registry.step_class("check_items").__module__ == "aetherflow.steps.control"


def test_two_plugins_registering_the_same_step_type_are_still_a_duplicate(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    for name in ("one.py", "two.py"):
        write_plugin(tmp_path, name, TYPED_CHECK_ITEMS.replace("check_items", "mine.step"))

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(registry, settings=make_settings(paths=[tmp_path]))

    assert caught.value.issue.code == "plugin:duplicate"
    assert str(caught.value) == "Step type already registered: mine.step"


def test_a_second_plugin_overriding_the_same_built_in_is_a_duplicate(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    for name in ("one.py", "two.py"):
        write_plugin(tmp_path, name, TYPED_CHECK_ITEMS)

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(registry, settings=make_settings(paths=[tmp_path]))

    assert str(caught.value) == "Step type already registered: check_items"


def test_a_plugin_connector_with_a_built_in_name_is_still_a_duplicate(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    write_plugin(
        tmp_path,
        "conn.py",
        "from aetherflow.api import Connector, register_connector\n"
        "@register_connector('sftp', 'paramiko')\nclass Mine(Connector):\n    pass\n",
    )

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(registry, settings=make_settings(paths=[tmp_path]))

    assert str(caught.value) == "Connector already registered: sftp:paramiko"


def test_a_lazy_entry_point_step_named_like_a_built_in_replaces_it_with_a_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: Registry,
    make_settings: MakeSettings,
    events: EventLog,
) -> None:
    import uuid

    from tests.plugins.dist import make_distribution

    module = f"afplug_{uuid.uuid4().hex[:8]}"
    root = make_distribution(
        tmp_path / "site",
        f"afplug-{uuid.uuid4().hex[:8]}",
        modules={module: TYPED_CHECK_ITEMS.replace("@register_step('check_items')\n", "")},
        entry_points={"aetherflow.steps": {"check_items": f"{module}:Mine"}},
    )
    monkeypatch.syspath_prepend(str(root))

    warnings = load_plugins(registry, settings=make_settings(), emit=events)

    assert [w.code for w in warnings] == ["plugin:overrides_builtin"]
    assert events.named("plugin_overrides_builtin")[0]["source"] == "entry point check_items"
    assert registry.step_class("check_items").__name__ == "Mine"
