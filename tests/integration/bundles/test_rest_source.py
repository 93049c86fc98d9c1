"""The ``rest`` source through the ``rest:http`` connector, and a sync killed in the middle of its downloads."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from aetherflow.bundles import ActiveBundle, BundleSyncFailed, sync_bundle
from aetherflow.errors import is_permanent
from tests.integration.bundles.assets import AssetService
from tests.integration.bundles.helpers import bundle_files, content_fingerprint, tree_of, write_manifest
from tests.support.cli import clean_env, cli_argv


def _manifest(tmp_path: Path, service: AssetService) -> Path:
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "rest", "resource": "assets", "bundle": "b1"},
        resources={"assets": {"kind": "rest", "driver": "http", "config": {"base_url": service.url}}},
    )


def test_a_rest_bundle_is_listed_fetched_and_fingerprinted_by_the_listed_hashes(
    tmp_path: Path, asset_service: AssetService
) -> None:
    asset_service.bundles["b1"] = bundle_files()

    active = sync_bundle(str(_manifest(tmp_path, asset_service)), work_root=tmp_path / "work", allow_stale=False)

    assert active.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(active.active_dir) == bundle_files()
    assert sorted(asset_service.fetched) == sorted(bundle_files())


def test_an_unchanged_listing_downloads_nothing(tmp_path: Path, asset_service: AssetService) -> None:
    asset_service.bundles["b1"] = bundle_files()
    manifest = _manifest(tmp_path, asset_service)
    sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
    asset_service.fetched.clear()

    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert (again.changed, again.fetched_files, asset_service.fetched) == (False, (), [])


def test_content_that_does_not_match_the_listed_hash_fails_the_sync(
    tmp_path: Path, asset_service: AssetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_service.bundles["b1"] = bundle_files()
    listed = asset_service.listing
    monkeypatch.setattr(
        asset_service,
        "listing",
        lambda bundle, prefix: {"files": [{**f, "sha256": "0" * 64} for f in listed(bundle, prefix)["files"]]},
    )

    with pytest.raises(BundleSyncFailed, match="does not match the listed sha256"):
        sync_bundle(str(_manifest(tmp_path, asset_service)), work_root=tmp_path / "work", allow_stale=False)


def test_a_listing_with_a_path_escaping_the_bundle_is_refused(tmp_path: Path, asset_service: AssetService) -> None:
    asset_service.bundles["b1"] = {**bundle_files(), "../../etc/cron.d/x": b"* * * * * root true\n"}

    with pytest.raises(BundleSyncFailed, match="unsafe path in the bundle listing"):
        sync_bundle(str(_manifest(tmp_path, asset_service)), work_root=tmp_path / "work", allow_stale=False)


def test_an_unreachable_service_fails_the_sync_or_falls_back_to_the_stale_bundle(
    tmp_path: Path, asset_service: AssetService
) -> None:
    asset_service.bundles["b1"] = bundle_files()
    manifest = _manifest(tmp_path, asset_service)
    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
    manifest.write_text(manifest.read_text().replace(asset_service.url, "http://127.0.0.1:9"))

    with pytest.raises(BundleSyncFailed, match="Connection refused or unreachable"):
        sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
    stale = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=True)

    assert (stale.stale, stale.fingerprint) == (True, first.fingerprint)


def test_a_sync_killed_mid_way_leaves_the_previous_active_bundle_intact(
    tmp_path: Path, asset_service: AssetService
) -> None:
    old = bundle_files()
    asset_service.bundles["b1"] = old
    manifest = _manifest(tmp_path, asset_service)
    work = tmp_path / "work"
    first = sync_bundle(str(manifest), work_root=work, allow_stale=False)
    new = {**old, "env/app.env": b"GREET_NAME=v2\n", "flows/main.yaml": old["flows/main.yaml"] + b"# v2\n"}
    asset_service.bundles["b1"] = new
    asset_service.fetched.clear()
    asset_service.hold("flows/main.yaml")  # fetched after env/app.env: the kill lands between two downloads
    argv = cli_argv("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(work))
    proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert asset_service.hold_reached.wait(60), "the sync never reached the held download"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        completed = list(asset_service.fetched)  # before release(): the held request then completes
    finally:
        asset_service.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    root = work / "bundles" / "demo"
    assert completed == ["env/app.env"]  # one new file had reached the cache
    assert os.readlink(root / "active") == f"versions/{first.fingerprint}"
    assert tree_of(root / "active") == old

    recovered = sync_bundle(str(manifest), work_root=work, allow_stale=False)

    assert recovered.fingerprint == content_fingerprint(new)
    assert tree_of(root / "active") == new
    assert not list((root / "cache").glob(".tmp-*"))


def _capped_manifest(tmp_path: Path, service: AssetService, **source: object) -> Path:
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "rest", "resource": "assets", "bundle": "b1", **source},
        resources={"assets": {"kind": "rest", "driver": "http", "config": {"base_url": service.url}}},
    )


def _sync_capped(tmp_path: Path, service: AssetService, **source: object) -> ActiveBundle:
    manifest = _capped_manifest(tmp_path, service, **source)
    return sync_bundle(str(manifest), work_root=tmp_path / "w", allow_stale=False)


def test_a_file_listed_larger_than_max_mb_is_refused_before_it_is_fetched(
    tmp_path: Path, asset_service: AssetService
) -> None:
    asset_service.bundles["b1"] = {**bundle_files(), "plugins/big.bin": b"x" * 20_000}

    with pytest.raises(BundleSyncFailed) as caught:
        sync_bundle(
            str(_capped_manifest(tmp_path, asset_service, max_mb=0.01)), work_root=tmp_path / "w", allow_stale=False
        )

    assert "bundle file 'plugins/big.bin' from /fetch is larger than bundle.source.max_mb 0.01" in str(caught.value)
    assert caught.value.__cause__ is not None and is_permanent(caught.value.__cause__)
    assert "plugins/big.bin" not in asset_service.fetched


def test_a_file_served_larger_than_max_mb_is_refused_and_not_kept(
    tmp_path: Path, asset_service: AssetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_service.bundles["b1"] = {**bundle_files(), "plugins/big.bin": b"x" * 20_000}
    listed = asset_service.listing
    unsized = lambda bundle, prefix: {  # noqa: E731
        "files": [{k: v for k, v in f.items() if k != "size"} for f in listed(bundle, prefix)["files"]]
    }
    monkeypatch.setattr(asset_service, "listing", unsized)

    with pytest.raises(BundleSyncFailed, match=r"\(20000 bytes received\)"):
        sync_bundle(
            str(_capped_manifest(tmp_path, asset_service, max_mb=0.01)), work_root=tmp_path / "w", allow_stale=False
        )

    assert not [p for p in (tmp_path / "w").rglob("*") if p.is_file() and p.stat().st_size == 20_000]


def test_a_rest_bundle_pinned_to_its_fingerprint_is_synced(tmp_path: Path, asset_service: AssetService) -> None:
    asset_service.bundles["b1"] = bundle_files()
    pin = content_fingerprint(bundle_files())

    active = sync_bundle(
        str(_capped_manifest(tmp_path, asset_service, sha256=pin)), work_root=tmp_path / "w", allow_stale=False
    )

    assert active.fingerprint == pin


def test_a_rest_bundle_whose_fingerprint_differs_from_the_pin_fails_for_good(
    tmp_path: Path, asset_service: AssetService
) -> None:
    pin = content_fingerprint(bundle_files())
    asset_service.bundles["b1"] = {**bundle_files(), "plugins/extra.py": b"import os\n"}

    with pytest.raises(BundleSyncFailed) as caught:
        sync_bundle(
            str(_capped_manifest(tmp_path, asset_service, sha256=pin)), work_root=tmp_path / "w", allow_stale=False
        )

    assert f"the fingerprint of bundle 'demo' does not match bundle.source.sha256 (pinned {pin}" in str(caught.value)
    assert caught.value.__cause__ is not None and is_permanent(caught.value.__cause__)
    assert asset_service.fetched == []  # refused from the listing, before any download
    assert not (tmp_path / "w" / "bundles" / "demo" / "active").exists()
