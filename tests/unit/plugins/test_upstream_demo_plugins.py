"""Every example plugin file of aetherflow-core 0.0.14's demos loads unchanged, and so do this repository's own
plugins written in the same shapes (upstream's files are read at test time, see ``tests.support.upstream``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.plugins import load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins.upstream_shapes import REMOTE_PLUGINS, UC1_LOCAL, UC2_LOCAL
from tests.support.upstream import export, needs_upstream, upstream_files
from tests.unit.plugins.helpers import EventLog

MakeSettings = Callable[..., Settings]


def _plugin_files() -> list[str]:
    return [n for n in upstream_files("demo") if "/plugins/" in n and n.endswith(".py")]


def _plugin_dirs() -> list[str]:
    return sorted({n.rsplit("/plugins/", 1)[0] + "/plugins" for n in _plugin_files()})


@needs_upstream
def test_upstream_ships_28_example_plugin_files() -> None:
    assert len([n for n in _plugin_files() if not n.endswith("__init__.py")]) == 28


@needs_upstream
@pytest.mark.parametrize("plugin_dir", _plugin_dirs() or ["none"])
def test_every_upstream_example_plugin_file_of_a_demo_loads_unchanged(
    plugin_dir: str, tmp_path: Path, registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    root = export(plugin_dir, tmp_path)

    warnings = load_plugins(registry, settings=make_settings(paths=[root]), emit=events)

    assert [w.code for w in warnings if w.code != "plugin:overrides_builtin"] == []
    assert events.named("plugin_load_failed") == []


@pytest.mark.parametrize(
    ("plugin_dir", "steps", "connectors"),
    [
        (
            UC1_LOCAL / "plugins",
            {"demo_prepare_inbox", "local_transform_csv", "sftp_list_files", "sftp_download_files", "smb_upload_files"},
            {"sftp:sftp-local", "smb:smb-local", "mail:mail-dummy"},
        ),
        (
            UC2_LOCAL / "plugins",
            {"demo_generate_csv", "demo_prepare_excel_template", "excel_validate_template", "smb_upload_files"},
            {"smb:smb-local", "mail:mail-dummy"},
        ),
        (
            REMOTE_PLUGINS,
            {
                "sftp_list_files_custom",
                "sftp_download_files_custom",
                "sftp_delete_files_custom",
                "smb_upload_files_custom",
                "mail_send_dummy",
                "excel_validate_template_custom",
                "fs_find_zipfiles",
            },
            {"sftp:sftp-moveit", "smb:smb-pysmb", "mail:mail-dummy"},
        ),
    ],
    ids=["uc1-local", "uc2-local", "remote"],
)
def test_plugins_in_the_upstream_demo_shapes_load_strictly(
    plugin_dir: Path,
    steps: set[str],
    connectors: set[str],
    registry: Registry,
    make_settings: MakeSettings,
) -> None:
    warnings = load_plugins(registry, settings=make_settings(paths=[plugin_dir]))

    assert {w.code for w in warnings} <= {"plugin:overrides_builtin"}
    assert steps <= set(registry.step_names())
    assert connectors <= set(registry.connector_names())
