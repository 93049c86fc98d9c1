"""Every example plugin file of aetherflow-core 0.0.14's demos loads unchanged, and so do this repository's own
plugins written in the same shapes.

Upstream's files are never part of this repository: the test reads them at run time from a git checkout of the
upstream project named by ``AETHERFLOW_UPSTREAM_GIT_DIR`` (a bare or normal git directory) and is skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest

from aetherflow.plugins import load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.plugins.upstream_shapes import REMOTE_PLUGINS, UC1_LOCAL, UC2_LOCAL
from tests.unit.plugins.helpers import EventLog

MakeSettings = Callable[..., Settings]
UPSTREAM = os.environ.get("AETHERFLOW_UPSTREAM_GIT_DIR", "")


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", UPSTREAM, *args], capture_output=True, check=True, timeout=60).stdout


def _upstream_plugin_dirs() -> list[str]:
    if not UPSTREAM or not Path(UPSTREAM).exists():
        return []
    names = _git("ls-tree", "-r", "--name-only", "HEAD", "demo").decode().splitlines()
    return sorted({n.rsplit("/plugins/", 1)[0] + "/plugins" for n in names if "/plugins/" in n and n.endswith(".py")})


needs_upstream = pytest.mark.skipif(not _upstream_plugin_dirs(), reason="no upstream checkout (AETHERFLOW_UPSTREAM_GIT_DIR)")


@needs_upstream
def test_upstream_ships_28_example_plugin_files() -> None:
    names = _git("ls-tree", "-r", "--name-only", "HEAD", "demo").decode().splitlines()

    plugin_files = [n for n in names if "/plugins/" in n and n.endswith(".py") and not n.endswith("__init__.py")]

    assert len(plugin_files) == 28


@needs_upstream
@pytest.mark.parametrize("plugin_dir", _upstream_plugin_dirs() or ["none"])
def test_every_upstream_example_plugin_file_of_a_demo_loads_unchanged(
    plugin_dir: str, tmp_path: Path, registry: Registry, make_settings: MakeSettings, events: EventLog
) -> None:
    with tarfile.open(fileobj=BytesIO(_git("archive", "HEAD", plugin_dir))) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / plugin_dir

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
