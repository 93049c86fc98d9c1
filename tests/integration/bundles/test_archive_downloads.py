"""Archive bundles: no https->http redirect, a download cap, a sha256 pin, and the ``unzip`` limits on unpacking."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aetherflow.bundles import BundleSyncFailed, sync_bundle
from tests.integration.bundles.helpers import bundle_files, tree_of, write_manifest
from tests.integration.bundles.test_archive_source import _zip
from tests.servers.httpserver import HttpTestServer


def _sync(manifest: Path, work: Path) -> Any:
    return sync_bundle(str(manifest), work_root=work, allow_stale=False)


def _permanent(error: BaseException) -> bool:
    return bool(getattr(error.__cause__, "permanent", False))


@pytest.fixture
def trust_test_ca(http_server: HttpTestServer, monkeypatch: pytest.MonkeyPatch) -> HttpTestServer:
    """Make the test server's self-signed certificate trusted by the default TLS context."""
    monkeypatch.setenv("SSL_CERT_FILE", str(http_server.ca_file))
    return http_server


def test_an_https_archive_url_redirected_to_http_is_refused(tmp_path: Path, trust_test_ca: HttpTestServer) -> None:
    server = trust_test_ca
    target = f"{server.url}/bytes?n=7777"
    url = f"{server.https_url}/redirect?to={target}"
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": url})

    with pytest.raises(BundleSyncFailed) as caught:
        _sync(manifest, tmp_path / "work")

    assert "refused a redirect from https to http URL" in str(caught.value)
    assert _permanent(caught.value)
    assert not [r for r in server.state.requests if r["query"] == "n=7777"]  # the plain-http URL was never asked


def test_an_https_archive_url_answering_with_the_archive_is_downloaded(
    tmp_path: Path, trust_test_ca: HttpTestServer
) -> None:
    # The https server answers /bytes with a pattern, not an archive: it is downloaded, pinned, then refused as such.
    url = f"{trust_test_ca.https_url}/bytes?n=4096"
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": url})

    with pytest.raises(BundleSyncFailed, match="neither a zip nor a tar archive"):
        _sync(manifest, tmp_path / "work")


def test_an_http_redirect_to_http_is_followed(
    tmp_path: Path, http_server: HttpTestServer, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    _zip(root / "release.zip", bundle_files())
    url = f"{http_server.url}/redirect?to={base}/release.zip"
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": url})

    active = _sync(manifest, tmp_path / "work")

    assert tree_of(active.active_dir) == bundle_files()


def test_a_download_over_max_mb_is_refused_and_leaves_nothing_in_the_cache(
    tmp_path: Path, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    (root / "big.zip").write_bytes(b"\0" * 200_000)
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": f"{base}/big.zip", "max_mb": 0.1})

    with pytest.raises(BundleSyncFailed) as caught:
        _sync(manifest, tmp_path / "work")

    assert "is larger than bundle.source.max_mb 0.1 (Content-Length 200000)" in str(caught.value)
    assert _permanent(caught.value)
    assert list((tmp_path / "work" / "bundles" / "demo" / "cache").iterdir()) == []


def test_a_body_longer_than_its_content_length_is_stopped_at_max_mb(tmp_path: Path) -> None:
    from aetherflow.bundles.cache import BlobStore
    from aetherflow.bundles.download import _stream
    from aetherflow.bundles.sources import SourceRefused

    blobs = BlobStore(tmp_path)

    with pytest.raises(SourceRefused, match=r"more than 1048576 bytes"):
        _stream(io.BytesIO(bytes(3 << 20)), blobs, 1 << 20, "http://host/x.zip", 1)

    assert list(tmp_path.iterdir()) == []


def test_a_pinned_archive_with_its_hash_is_synced(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bundle.zip", bundle_files())
    pin = hashlib.sha256(archive.read_bytes()).hexdigest().upper()
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip", "sha256": pin})

    active = _sync(manifest, tmp_path / "work")

    assert tree_of(active.active_dir) == bundle_files()


def test_a_pinned_archive_with_another_hash_fails_for_good_and_activates_nothing(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bundle.zip", bundle_files())
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip", "sha256": "ab" * 32})

    with pytest.raises(BundleSyncFailed) as caught:
        _sync(manifest, tmp_path / "work")

    assert f"does not match bundle.source.sha256 (pinned {'ab' * 32}, got {actual})" in str(caught.value)
    assert _permanent(caught.value)
    assert not (tmp_path / "work" / "bundles" / "demo" / "active").exists()


def test_a_pinned_archive_url_with_another_hash_fails(tmp_path: Path, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    _zip(root / "release.zip", bundle_files())
    manifest = write_manifest(
        tmp_path / "m.yaml", {"type": "archive", "url": f"{base}/release.zip", "sha256": "0" * 64}
    )

    with pytest.raises(BundleSyncFailed, match=r"does not match bundle\.source\.sha256"):
        _sync(manifest, tmp_path / "work")


def test_a_zip_bomb_bundle_is_refused_by_the_unzip_ratio_default(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**bundle_files(), "plugins/blob.bin": bytes(4 << 20)}.items():
            zf.writestr(name, data)
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.zip"})

    with pytest.raises(BundleSyncFailed, match=r"unsafe entry 'plugins/blob.bin' \(compression ratio \d+ exceeds"):
        _sync(manifest, tmp_path / "work")

    assert not list((tmp_path / "work").rglob("blob.bin"))


def test_a_tar_bomb_bundle_is_refused_by_its_ratio_against_the_archive_size(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in {**bundle_files(), "plugins/blob.bin": bytes(8 << 20)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "archive", "base_path": "bundle.tar.gz"})

    with pytest.raises(BundleSyncFailed, match=r"refused: compression ratio \d+ exceeds max_ratio 200"):
        _sync(manifest, tmp_path / "work")

    assert not list((tmp_path / "work").rglob("blob.bin"))
