"""``smb`` bundle sources through the built-in SMB connectors, against a real Samba server."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.bundles import BundleSyncFailed, sync_bundle
from tests.integration.bundles.helpers import bundle_files, content_fingerprint, tree_of, write_manifest
from tests.servers.smb import SmbServer

pytestmark = pytest.mark.servers


def _manifest(tmp_path: Path, server: SmbServer, driver: str, base_path: str) -> Path:
    # The upstream demo's shape: no config.share, the share named in base_path ("SHARE:/dir").
    config = {
        "server": server.host,
        "port": server.port,
        "username": server.user,
        "password": "{{env.SMB_PASS}}",
    }
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "smb", "resource": "smb_main", "base_path": base_path, "strict_fingerprint": True},
        resources={"smb_main": {"kind": "smb", "driver": driver, "config": config}},
    )


@pytest.mark.parametrize("driver", ["smbclient", "pysmb"])
def test_an_smb_bundle_is_synced_through_the_builtin_connector_and_then_reused(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str, driver: str
) -> None:
    for rel, data in bundle_files().items():
        smb_server.put(f"{smb_dir}/bundle/{rel}", data, mtime=1_700_000_000)
    manifest = _manifest(tmp_path, smb_server, driver, f"{smb_server.share}:/{smb_dir}/bundle")
    env = {"SMB_PASS": smb_server.password}

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)

    assert first.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(first.active_dir) == bundle_files()
    assert (again.changed, again.fetched_files) == (False, ())


def test_a_wrong_smb_password_fails_the_sync_without_showing_it(
    tmp_path: Path, smb_server: SmbServer, smb_dir: str
) -> None:
    manifest = _manifest(tmp_path, smb_server, "smbclient", f"{smb_server.share}:/{smb_dir}")

    with pytest.raises(BundleSyncFailed, match="SMB authentication failed") as caught:
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env={"SMB_PASS": "wrong-Pa55"})

    assert "wrong-Pa55" not in str(caught.value)
