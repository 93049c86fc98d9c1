"""Enterprise mode: ambient plugin folders ignored, bundle folders only from the trusted ``paths.plugins``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.plugins import PluginLoadError, load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins import BROKEN_DIR, TYPED_DIR
from tests.unit.plugins.helpers import EventLog

MakeSettings = Callable[..., Settings]


def _bundle(tmp_path: Path) -> tuple[Path, Path]:
    """A bundle root with a trusted plugins folder holding the typed plugins."""
    root = tmp_path / "bundle"
    trusted = root / "plugins"
    shutil.copytree(TYPED_DIR, trusted)
    return root, trusted


def test_ambient_plugin_paths_are_ignored_and_that_is_logged(
    registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    warnings = load_plugins(
        registry, settings=make_settings(paths=[BROKEN_DIR, TYPED_DIR]), enterprise=True, emit=events
    )

    assert not registry.has_step("greet")  # and boom.py never ran, or strict mode would have raised
    assert [w.code for w in warnings] == ["plugin:paths_ignored"]
    assert events.named("plugin_paths_ignored") == [{"level": "WARNING", "paths": f"{BROKEN_DIR},{TYPED_DIR}"}]


def test_trusted_bundle_plugin_folders_load(tmp_path: Path, registry: Registry, make_settings: MakeSettings) -> None:
    _root, trusted = _bundle(tmp_path)

    warnings = load_plugins(
        registry, settings=make_settings(), extra_paths=[str(trusted)], trusted_paths=[str(trusted)], enterprise=True
    )

    assert warnings == []
    assert registry.has_step("greet")


def test_an_untrusted_plugin_folder_is_refused(tmp_path: Path, registry: Registry, make_settings: MakeSettings) -> None:
    root, trusted = _bundle(tmp_path)
    other = root / "other_plugins"
    shutil.copytree(TYPED_DIR, other)

    with pytest.raises(PluginLoadError) as caught:
        load_plugins(
            registry, settings=make_settings(), extra_paths=[str(other)], trusted_paths=[str(trusted)], enterprise=True
        )

    assert caught.value.issue.code == "plugin:load_failed"
    assert "not inside a trusted plugin path" in str(caught.value)
    assert not registry.has_step("greet")


def test_without_a_bundle_enterprise_mode_trusts_no_plugin_folder(
    registry: Registry, make_settings: MakeSettings
) -> None:
    with pytest.raises(PluginLoadError, match="not inside a trusted plugin path"):
        load_plugins(registry, settings=make_settings(), extra_paths=[str(TYPED_DIR)], enterprise=True)


def test_a_plugin_file_linking_outside_the_trusted_folder_is_refused(
    tmp_path: Path, registry: Registry, make_settings: MakeSettings
) -> None:
    root = tmp_path / "bundle"
    trusted = root / "plugins"
    trusted.mkdir(parents=True)
    (trusted / "greet.py").symlink_to(TYPED_DIR / "greet.py")

    warnings = load_plugins(
        registry,
        settings=make_settings(strict=False),
        extra_paths=[str(trusted)],
        trusted_paths=[str(trusted)],
        enterprise=True,
    )

    assert [w.code for w in warnings] == ["plugin:load_failed"]
    assert "outside the trusted plugin paths" in warnings[0].msg
    assert not registry.has_step("greet")
