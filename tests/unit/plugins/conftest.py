"""Fixtures of the plugin tests: a fresh registry, settings, and a process left as it was found."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aetherflow import plugins
from aetherflow.api import take_registrations
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.unit.plugins.helpers import EventLog


@pytest.fixture(autouse=True)
def _isolated_plugin_state() -> Iterator[None]:
    """Plugin loading touches sys.path, sys.modules and module-level records: undo all of it after each test."""
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    take_registrations()
    yield
    take_registrations()
    sys.path[:] = path_before
    for name in set(sys.modules) - modules_before:
        if name.startswith(plugins.MODULE_PREFIX) or name.startswith("afplug_"):
            del sys.modules[name]
    plugins._active = None


@pytest.fixture
def registry() -> Registry:
    return Registry.builtin()


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(*, paths: list[Path | str] | None = None, strict: bool = True) -> Settings:
        return Settings(plugin_paths=",".join(str(p) for p in paths or []), plugin_strict=strict)

    return make


@pytest.fixture
def events() -> EventLog:
    return EventLog()
