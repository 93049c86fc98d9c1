"""The ``git`` source against a real local repository (the git binary, a shallow fetch of the resolved commit)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aetherflow.bundles import BundleSyncFailed, sync_bundle
from aetherflow.errors import is_permanent
from tests.integration.bundles.helpers import bundle_files, tree_of, write_manifest, write_tree

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary is not installed")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose ``bundle/`` sub-directory holds a bundle, one commit on ``main``."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    write_tree(path / "bundle", bundle_files())
    (path / "README.md").write_text("not part of the bundle\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "first")
    return path


def _git_fingerprint(subdir: str, commit: str) -> str:
    text = json.dumps([[subdir, f"git:{commit}"]], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_commit_is_synced_and_its_fingerprint_is_commit_plus_subdir(tmp_path: Path, repo: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": "repo", "ref": "main", "base_path": "bundle"})

    active = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert active.fingerprint == _git_fingerprint("bundle", _git(repo, "rev-parse", "HEAD"))
    assert tree_of(active.active_dir) == bundle_files()
    assert active.fetched_files == tuple(sorted(bundle_files()))


def test_a_new_commit_gives_a_new_fingerprint_and_the_same_commit_fetches_nothing(tmp_path: Path, repo: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": str(repo), "base_path": "bundle"})
    work = tmp_path / "work"
    first = sync_bundle(str(manifest), work_root=work, allow_stale=False)
    unchanged = sync_bundle(str(manifest), work_root=work, allow_stale=False)
    (repo / "bundle" / "profiles.yaml").write_text("changed: {}\n")
    _git(repo, "commit", "-q", "-am", "second")

    second = sync_bundle(str(manifest), work_root=work, allow_stale=False)

    assert (unchanged.changed, unchanged.fetched_files) == (False, ())
    assert second.changed and second.fingerprint != first.fingerprint
    assert second.fingerprint == _git_fingerprint("bundle", _git(repo, "rev-parse", "HEAD"))
    assert (second.active_dir / "profiles.yaml").read_text() == "changed: {}\n"
    assert not (work / "bundles" / "demo" / "work").exists()  # the checkout is scratch


def test_a_tag_and_a_commit_id_are_refs_too(tmp_path: Path, repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "tag", "-a", "v1", "-m", "release")
    by_tag = write_manifest(tmp_path / "t.yaml", {"type": "git", "url": str(repo), "ref": "v1", "base_path": "bundle"})
    by_id = write_manifest(
        tmp_path / "c.yaml", {"type": "git", "url": str(repo), "ref": head, "base_path": "bundle"}, bundle_id="byid"
    )

    tagged = sync_bundle(str(by_tag), work_root=tmp_path / "work", allow_stale=False)
    pinned = sync_bundle(str(by_id), work_root=tmp_path / "work", allow_stale=False)

    assert tagged.fingerprint == pinned.fingerprint == _git_fingerprint("bundle", head)


def test_an_unknown_ref_fails_the_sync(tmp_path: Path, repo: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": str(repo), "ref": "nope", "base_path": "b"})

    with pytest.raises(BundleSyncFailed, match=r"git ref 'nope' not found in "):
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)


def test_a_missing_subdirectory_fails_the_sync(tmp_path: Path, repo: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": str(repo), "base_path": "elsewhere"})

    with pytest.raises(BundleSyncFailed, match="git sub-directory 'elsewhere' not found at commit"):
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)


def test_a_link_leaving_the_repository_refuses_the_tree(tmp_path: Path, repo: Path) -> None:
    (repo / "bundle" / "secret.txt").symlink_to("/etc/hostname")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "link")
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": str(repo), "base_path": "bundle"})

    with pytest.raises(BundleSyncFailed, match=r"symbolic link pointing outside it: secret\.txt"):
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)


@pytest.mark.parametrize("base_path", ["linked", "via/bundle"])
def test_a_base_path_that_is_or_crosses_a_symbolic_link_is_refused(tmp_path: Path, repo: Path, base_path: str) -> None:
    outside = write_tree(tmp_path / "outside", {**bundle_files(), "secret.txt": b"host secret\n"})
    (repo / "linked").symlink_to(outside)
    (repo / "via").symlink_to(outside.parent)
    (tmp_path / "bundle").symlink_to(outside)  # so that via/bundle resolves to the outside tree as well
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "links")
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "git", "url": str(repo), "base_path": base_path})

    with pytest.raises(BundleSyncFailed) as caught:
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert f"git base_path '{base_path}' is a symbolic link at commit" in str(caught.value)
    assert caught.value.__cause__ is not None and is_permanent(caught.value.__cause__)
    assert not list((tmp_path / "work").rglob("secret.txt"))
