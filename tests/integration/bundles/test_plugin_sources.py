"""Sources served by plugin connectors: ``smb`` through an upstream-shaped SMB connector plugin."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aetherflow.bundles import BundleSyncFailed, sync_bundle
from aetherflow.plugins import load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.integration.bundles.helpers import bundle_files, content_fingerprint, tree_of, write_manifest, write_tree
from tests.plugins import SMB_DIR


def test_an_smb_bundle_is_read_through_a_legacy_smb_connector_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading the plugin folder puts it first on sys.path
    write_tree(tmp_path / "share" / "bundles" / "demo", bundle_files())
    registry = Registry.builtin()
    assert load_plugins(registry, settings=Settings(plugin_paths=str(SMB_DIR))) == []
    manifest = write_manifest(
        tmp_path / "m.yaml",
        {"type": "smb", "resource": "share", "base_path": "/bundles/demo"},
        resources={"share": {"kind": "smb", "driver": "localshare", "config": {"root": str(tmp_path / "share")}}},
    )

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, registry=registry)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, registry=registry)

    assert first.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(first.active_dir) == bundle_files()
    assert (again.changed, again.fetched_files) == (False, ())


def test_a_source_whose_connector_is_not_registered_fails_with_its_name(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.yaml",
        {"type": "smb", "resource": "share", "base_path": "/x"},
        resources={"share": {"kind": "smb", "driver": "nosuch", "config": {}}},
    )

    with pytest.raises(BundleSyncFailed, match="manifest resource 'share' uses unknown connector smb:nosuch"):
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
