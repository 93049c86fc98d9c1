"""The ``archive`` source: zip and tar files from a path or an http(s) URL; unsafe archives are refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from aetherflow.bundles import BundleSyncFailed, sync_bundle
from tests.integration.bundles.helpers import bundle_files, tree_of, write_manifest


def _zip(path: Path, files: Mapping[str, bytes], *, executable: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            zf.writestr(info, data)
    return path


def _tar(path: Path, files: Mapping[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _archive_fingerprint(name: str, archive: Path) -> str:
    pair = [[name, "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()]]
    return hashlib.sha256(json.dumps(pair, separators=(",", ":")).encode()).hexdigest()


def _sync(manifest: Path, work: Path, **kwargs: Any) -> Any:
    return sync_bundle(str(manifest), work_root=work, allow_stale=kwargs.pop("allow_stale", False), **kwargs)


def test_a_zip_archive_is_unpacked_and_fingerprinted_by_its_hash(tmp_path: Path) -> None:
    files = {**bundle_files(), "bin/run.sh": b"#!/bin/sh\necho hi\n"}
    archive = _zip(tmp_path / "bundle.zip", files, executable=("bin/run.sh",))
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})

    active = _sync(manifest, tmp_path / "work")

    assert active.fingerprint == _archive_fingerprint("bundle.zip", archive)
    assert tree_of(active.active_dir) == files
    assert os.access(active.active_dir / "bin" / "run.sh", os.X_OK)
    assert not os.access(active.active_dir / "profiles.yaml", os.X_OK)


def test_a_tar_archive_is_unpacked(tmp_path: Path) -> None:
    _tar(tmp_path / "bundle.tar.gz", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.tar.gz"})

    active = _sync(manifest, tmp_path / "work")

    assert tree_of(active.active_dir) == bundle_files()


def test_a_new_archive_activates_a_new_version(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bundle.zip", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})
    first = _sync(manifest, tmp_path / "work")
    same = _sync(manifest, tmp_path / "work")
    _zip(archive, {**bundle_files(), "profiles.yaml": b"new: {}\n"})

    second = _sync(manifest, tmp_path / "work")

    assert (same.changed, same.fetched_files) == (False, ())
    assert second.fingerprint != first.fingerprint
    assert (second.active_dir / "profiles.yaml").read_bytes() == b"new: {}\n"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [("../../outside.txt", "parent traversal"), ("/etc/evil.txt", "absolute path")],
)
def test_a_zip_with_an_unsafe_entry_is_refused_and_nothing_changes(tmp_path: Path, entry: str, reason: str) -> None:
    archive = _zip(tmp_path / "bundle.zip", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})
    first = _sync(manifest, tmp_path / "work")
    _zip(archive, {**bundle_files(), entry: b"pwned"})

    with pytest.raises(BundleSyncFailed) as caught:
        _sync(manifest, tmp_path / "work")

    assert f"unsafe entry '{entry}' ({reason})" in str(caught.value)
    assert tree_of(first.active_dir) == bundle_files()
    assert not (tmp_path / "outside.txt").exists()
    assert not any(p.name == "outside.txt" for p in tmp_path.rglob("*"))


def test_a_tar_with_a_symlink_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar"
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("profiles.yaml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.tar"})

    with pytest.raises(BundleSyncFailed, match=r"unsafe entry 'profiles.yaml' \(symlink\)"):
        _sync(manifest, tmp_path / "work")


def test_a_zip_with_a_symlink_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("flows/main.yaml")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})

    with pytest.raises(BundleSyncFailed, match=r"unsafe entry 'flows/main.yaml' \(symlink\)"):
        _sync(manifest, tmp_path / "work")


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle.zip").write_text("just text")
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})

    with pytest.raises(BundleSyncFailed, match="neither a zip nor a tar archive"):
        _sync(manifest, tmp_path / "work")


def test_an_archive_url_is_downloaded(tmp_path: Path, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    archive = _zip(root / "release.zip", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": f"{base}/release.zip"})

    active = _sync(manifest, tmp_path / "work")

    assert active.fingerprint == _archive_fingerprint("release.zip", archive)
    assert tree_of(active.active_dir) == bundle_files()


def test_an_archive_url_that_answers_404_fails_the_sync(tmp_path: Path, file_server: tuple[str, Path]) -> None:
    base, _root = file_server
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": f"{base}/missing.zip"})

    with pytest.raises(BundleSyncFailed, match=r"archive download failed: HTTP 404 for GET http://127\.0\.0\.1:\d+/"):
        _sync(manifest, tmp_path / "work")
