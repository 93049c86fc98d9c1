"""Sync, cache and activation with a local folder source (spec plugins-and-bundles.md §5)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from aetherflow.bundles import ActiveBundle, BundlePaths, BundleSyncFailed, bundle_status, sync_bundle
from aetherflow.errors import ExitCode
from tests.integration.bundles.helpers import (
    bundle_files,
    content_fingerprint,
    tree_of,
    write_manifest,
    write_tree,
)
from tests.support.cli import aetherflow


class Events(list[tuple[str, dict[str, Any]]]):
    def __call__(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        self.append((event, {"level": level, **fields}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [f for e, f in self if e == name]


@pytest.fixture
def local(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(source dir with a bundle, manifest, work root)."""
    src = write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "manifest.yaml", {"type": "local", "base_path": "src"})
    return src, manifest, tmp_path / "work"


def _sync(manifest: Path, work: Path, **kwargs: Any) -> ActiveBundle:
    kwargs.setdefault("allow_stale", False)
    kwargs.setdefault("emit", Events())
    return sync_bundle(str(manifest), work_root=work, **kwargs)


def test_the_first_sync_activates_the_bundle_through_a_link(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local

    active = _sync(manifest, work)

    root = work / "bundles" / "demo"
    assert active.changed is True
    assert active.fetched_files == tuple(sorted(bundle_files()))
    assert active.fingerprint == content_fingerprint(bundle_files())
    assert active.active_dir == active.local_root == root / "active"
    assert os.readlink(root / "active") == f"versions/{active.fingerprint}"
    assert tree_of(root / "active") == bundle_files()
    assert sorted(p.name for p in (root / "cache").iterdir()) == sorted(
        hashlib.sha256(data).hexdigest() for data in bundle_files().values()
    )


def test_the_snapshot_and_latest_record_what_was_activated(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local

    active = _sync(manifest, work)

    fps = work / "bundles" / "demo" / "fingerprints"
    latest = json.loads((fps / "latest.json").read_text())
    snapshot = json.loads((fps / f"{active.fingerprint}.json").read_text())
    assert (latest["fingerprint"], latest["snapshot"]) == (active.fingerprint, f"{active.fingerprint}.json")
    assert latest["updated_at"].endswith("Z")
    assert (snapshot["version"], snapshot["bundle_id"], snapshot["fingerprint"]) == (1, "demo", active.fingerprint)
    assert snapshot["source"] == {"type": "filesystem", "base_path": str(manifest.parent / "src")}
    assert [f["path"] for f in snapshot["files"]] == sorted(bundle_files())
    assert set(snapshot["files"][0]) == {"path", "sha256", "size", "mtime"}


def test_the_fingerprint_depends_on_content_not_on_file_order_or_mtime(tmp_path: Path) -> None:
    files = bundle_files()
    write_tree(tmp_path / "a", files)
    second = write_tree(tmp_path / "b", dict(reversed(list(files.items()))))
    os.utime(second / "profiles.yaml", (1_000_000, 1_000_000))
    fa = _sync(write_manifest(tmp_path / "ma.yaml", {"type": "local", "base_path": "a"}, bundle_id="a"), tmp_path / "w")
    fb = _sync(write_manifest(tmp_path / "mb.yaml", {"type": "local", "base_path": "b"}, bundle_id="b"), tmp_path / "w")

    assert fa.fingerprint == fb.fingerprint == content_fingerprint(files)


def test_an_unchanged_source_fetches_nothing(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    first = _sync(manifest, work)

    again = _sync(manifest, work)

    assert (again.changed, again.fetched_files, again.fingerprint) == (False, (), first.fingerprint)


def test_a_changed_file_activates_a_new_version_and_keeps_the_previous_one(local: tuple[Path, Path, Path]) -> None:
    src, manifest, work = local
    first = _sync(manifest, work)
    (src / "profiles.yaml").write_text("changed: {}\n")

    second = _sync(manifest, work)

    assert second.changed is True
    assert second.fetched_files == ("profiles.yaml",)  # the other files' blobs are reused
    assert second.fingerprint != first.fingerprint
    assert (second.active_dir / "profiles.yaml").read_text() == "changed: {}\n"
    versions = sorted(p.name for p in (work / "bundles" / "demo" / "versions").iterdir())
    assert versions == sorted([first.fingerprint, second.fingerprint])


def test_only_the_current_and_the_previous_versions_are_kept(local: tuple[Path, Path, Path]) -> None:
    src, manifest, work = local
    fingerprints = []
    for n in range(3):
        (src / "flows" / "extra.yaml").write_text(f"n: {n}\n")
        fingerprints.append(_sync(manifest, work).fingerprint)

    root = work / "bundles" / "demo"
    assert sorted(p.name for p in (root / "versions").iterdir()) == sorted(fingerprints[1:])
    assert sorted(p.stem for p in (root / "fingerprints").glob("*.json") if p.stem != "latest") == sorted(
        fingerprints[1:]
    )
    kept_blobs = {p.name for p in (root / "cache").iterdir()}
    assert hashlib.sha256(b"n: 0\n").hexdigest() not in kept_blobs  # referenced only by the dropped version
    assert hashlib.sha256(b"n: 1\n").hexdigest() in kept_blobs


def test_fetch_policy_always_rebuilds_every_time(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})
    text = manifest.read_text().replace("  entry_flow:", "  fetch_policy: always\n  entry_flow:")
    manifest.write_text(text)
    first = _sync(manifest, tmp_path / "work")

    again = _sync(manifest, tmp_path / "work")

    assert (again.changed, again.fingerprint) == (True, first.fingerprint)
    assert os.readlink(again.active_dir) == f"versions/{first.fingerprint}"


def test_a_relaxed_fingerprint_follows_size_and_mtime(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src", "strict_fingerprint": False})
    first = _sync(manifest, tmp_path / "work")
    os.utime(src / "profiles.yaml", (2_000_000, 2_000_000))

    second = _sync(manifest, tmp_path / "work")

    assert second.fingerprint != first.fingerprint
    assert second.fetched_files == ("profiles.yaml",)


def test_a_failed_sync_leaves_the_active_bundle_intact_and_records_the_error(local: tuple[Path, Path, Path]) -> None:
    src, manifest, work = local
    first = _sync(manifest, work)
    (src / "flows" / "main.yaml").unlink()

    with pytest.raises(BundleSyncFailed) as caught:
        _sync(manifest, work)

    assert caught.value.exit_code == ExitCode.PERMANENT  # the bundle lacks its entry flow: retrying cannot help
    assert caught.value.issue.code == "bundle:sync_failed"
    assert "entry_flow 'flows/main.yaml' is not in the synced bundle" in str(caught.value)
    root = work / "bundles" / "demo"
    assert os.readlink(root / "active") == f"versions/{first.fingerprint}"
    assert tree_of(root / "active") == bundle_files()
    error = json.loads((root / "last_error.json").read_text())
    assert "entry_flow" in error["error"] and error["at"].endswith("Z")
    assert not (root / "staged").exists()


def test_a_stale_bundle_is_used_and_logged_when_allowed(local: tuple[Path, Path, Path]) -> None:
    src, manifest, work = local
    first = _sync(manifest, work)
    (src / "profiles.yaml").unlink()
    events = Events()

    stale = _sync(manifest, work, allow_stale=True, emit=events)

    assert (stale.stale, stale.changed, stale.fingerprint) == (True, False, first.fingerprint)
    [warning] = events.named("bundle_stale")
    assert (warning["level"], warning["bundle_id"], warning["fingerprint"]) == ("WARNING", "demo", first.fingerprint)
    assert "profiles_file 'profiles.yaml' is not in the synced bundle" in warning["error"]


def test_without_an_active_bundle_a_stale_fallback_is_impossible(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "missing"})

    with pytest.raises(BundleSyncFailed, match="bundle source directory not found"):
        _sync(manifest, tmp_path / "work", allow_stale=True)


def test_the_active_bundle_says_what_a_run_rewires(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    text = manifest.read_text() + "paths:\n  plugins: [plugins]\nzip_drivers: [zipfile]\nmode: enterprise\n"
    manifest.write_text(text)

    active = _sync(manifest, work)

    act = work / "bundles" / "demo" / "active"
    assert active.flow_path == act / "flows" / "main.yaml"
    assert active.profiles_file == act / "profiles.yaml"
    assert active.env_files == [str(act / "env" / "app.env")]
    assert active.mode == "enterprise"
    assert active.zip_drivers == ["zipfile"]
    assert active.plugin_paths == active.trusted_paths == [str(act / "plugins")]
    assert active.plugin_dirs(enterprise=False) == [str(act / "plugins")]
    assert active.runner_env() == {
        "AETHERFLOW_LOCAL_ROOT_DIR": str(act),
        "AETHERFLOW_ACTIVE_DIR": str(act),
        "AETHERFLOW_CACHE_DIR": str(work / "bundles" / "demo" / "cache"),
    }


def test_a_bundle_without_its_plugins_folder_adds_no_plugin_path(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files(with_plugin=False))
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    active = _sync(manifest, tmp_path / "work")

    assert active.plugin_paths == []


def test_concurrent_syncs_of_one_bundle_are_serialised(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    results: list[ActiveBundle] = []
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            results.append(_sync(manifest, work))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, True]
    assert len({r.fingerprint for r in results}) == 1


def test_a_leftover_of_a_killed_sync_is_cleaned_up(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    root = work / "bundles" / "demo"
    (root / "staged" / "half").mkdir(parents=True)
    (root / "cache").mkdir(parents=True)
    (root / "cache" / ".tmp-dead").write_bytes(b"partial")
    (root / "active.tmp").symlink_to("versions/nothing")

    _sync(manifest, work)

    assert not (root / "staged").exists()
    assert not (root / "active.tmp").is_symlink()
    assert not (root / "cache" / ".tmp-dead").exists()


def test_status_reads_the_cache_without_fetching(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    before = bundle_status(str(manifest), work_root=work)
    active = _sync(manifest, work)

    after = bundle_status(str(manifest), work_root=work)

    root = work / "bundles" / "demo"
    assert (before["fingerprint"], before["has_active"]) == (None, False)
    assert after == {
        "bundle_manifest": str(manifest),
        "bundle_id": "demo",
        "work_root": str(work),
        "bundle_root": str(root),
        "active_dir": str(root / "active"),
        "cache_dir": str(root / "cache"),
        "fingerprints_dir": str(root / "fingerprints"),
        "fingerprint": active.fingerprint,
        "has_active": True,
    }
    assert BundlePaths.for_bundle(work, "demo").active_fingerprint() == active.fingerprint


# -- the CLI ---------------------------------------------------------------------------------------------------------


def test_bundle_sync_prints_the_changed_line_and_the_local_root(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local

    first = aetherflow(
        "bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work), "--print-local-root"
    )
    second = aetherflow("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work))

    act = work / "bundles" / "demo" / "active"
    fp = content_fingerprint(bundle_files())
    assert first.code == 0, first.stderr
    assert first.stdout.splitlines() == [f"CHANGED: bundle synced to {act} fingerprint={fp}", str(act)]
    assert second.stdout.splitlines() == [f"UNCHANGED: bundle synced to {act} fingerprint={fp}"]


def test_bundle_sync_json_has_the_documented_keys_in_order(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local

    res = aetherflow("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work), "--json")

    root = work / "bundles" / "demo"
    assert res.code == 0, res.stderr
    assert res.stdout.count("\n") == 1
    doc = json.loads(res.stdout)
    assert list(doc) == [
        "bundle_manifest",
        "local_root",
        "active_dir",
        "cache_dir",
        "fingerprints_dir",
        "fingerprint",
        "changed",
        "fetched_files",
        "fetched_count",
    ]
    assert doc == {
        "bundle_manifest": str(manifest),
        "local_root": str(root / "active"),
        "active_dir": str(root / "active"),
        "cache_dir": str(root / "cache"),
        "fingerprints_dir": str(root / "fingerprints"),
        "fingerprint": content_fingerprint(bundle_files()),
        "changed": True,
        "fetched_files": sorted(bundle_files()),
        "fetched_count": 4,
    }


def test_bundle_sync_json_lists_each_fetched_path_relative_and_sorted_hostile_names_included(
    local: tuple[Path, Path, Path],
) -> None:
    src, manifest, work = local
    hostile = 'data/d\u00e9j\u00e0 vu/it\'s "q" \u2603.txt'
    sync = ("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work), "--json")
    aetherflow(*sync)
    write_tree(src, {hostile: b"x\n"})

    res = aetherflow(*sync)

    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["changed"], doc["fetched_files"], doc["fetched_count"]) == (True, [hostile], 1)


def test_an_unchanged_bundle_sync_json_fetched_nothing(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    sync = ("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work), "--json")
    aetherflow(*sync)

    doc = json.loads(aetherflow(*sync).stdout)

    assert (doc["changed"], doc["fetched_files"], doc["fetched_count"]) == (False, [], 0)


def test_bundle_sync_takes_the_manifest_and_work_root_from_the_environment(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local

    res = aetherflow(
        "bundle", "sync", env={"AETHERFLOW_BUNDLE_MANIFEST": str(manifest), "AETHERFLOW_WORK_ROOT": str(work)}
    )

    assert res.code == 0, res.stderr
    assert res.stdout.startswith(f"CHANGED: bundle synced to {work / 'bundles' / 'demo' / 'active'} ")


def test_a_bundle_sync_retrying_cannot_fix_exits_3_unless_a_stale_bundle_is_allowed(
    local: tuple[Path, Path, Path],
) -> None:
    src, manifest, work = local
    args = ["bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work)]
    assert aetherflow(*args).code == 0
    (src / "flows" / "main.yaml").unlink()

    failed = aetherflow(*args)
    stale = aetherflow(*args, "--allow-stale-bundle")

    assert failed.code == ExitCode.PERMANENT
    assert (
        failed.stderr.strip().splitlines()[-1].startswith("error: Bundle sync failed for 'demo' (filesystem source):")
    )
    assert stale.code == 0
    assert stale.stdout.startswith("UNCHANGED: bundle synced to ")
    assert [e["bundle_id"] for e in stale.event("bundle_stale")] == ["demo"]


def test_bundle_status_prints_four_lines(local: tuple[Path, Path, Path]) -> None:
    _src, manifest, work = local
    args = ["--bundle-manifest", str(manifest), "--work-root", str(work)]
    before = aetherflow("bundle", "status", *args)
    aetherflow("bundle", "sync", *args)

    after = aetherflow("bundle", "status", *args)
    as_json = aetherflow("bundle", "status", *args, "--json")

    root = work / "bundles" / "demo"
    fp = content_fingerprint(bundle_files())
    assert before.code == 0
    assert before.stdout.splitlines()[0] == "bundle_id=demo fingerprint=(none) has_active=no"
    assert after.stdout.splitlines() == [
        f"bundle_id=demo fingerprint={fp} has_active=yes",
        f"active_dir={root / 'active'}",
        f"cache_dir={root / 'cache'}",
        f"fingerprints_dir={root / 'fingerprints'}",
    ]
    assert list(json.loads(as_json.stdout)) == [
        "bundle_manifest",
        "bundle_id",
        "work_root",
        "bundle_root",
        "active_dir",
        "cache_dir",
        "fingerprints_dir",
        "fingerprint",
        "has_active",
    ]
