"""Remote sources through the built-in connectors, against real servers: SFTP (OpenSSH), databases, S3 (moto)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aetherflow.bundles import sync_bundle
from tests.integration.bundles.helpers import bundle_files, content_fingerprint, tree_of, write_manifest
from tests.servers.postgres import PostgresServer
from tests.servers.s3 import S3Server
from tests.servers.sshd import SshdServer


def _fingerprint(pairs: list[tuple[str, str]]) -> str:
    text = json.dumps([list(p) for p in sorted(pairs)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- SFTP --------------------------------------------------------------------------------------------------------------


def _sftp_manifest(tmp_path: Path, server: SshdServer, remote_dir: str, **source: Any) -> Path:
    config = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": "{{env.SFTP_PASSWORD}}",
        "known_hosts": server.known_hosts,
    }
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "sftp", "resource": "files", "base_path": remote_dir, **source},
        resources={"files": {"kind": "sftp", "driver": "paramiko", "config": config}},
    )


def _put_bundle(server: SshdServer, remote_dir: str, files: dict[str, bytes], mtime: float = 1_700_000_000) -> None:
    for rel, data in files.items():
        server.put(f"{remote_dir}/{rel}", data, mtime=mtime)


@pytest.mark.servers
def test_an_sftp_bundle_is_hashed_synced_and_then_reused(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    _put_bundle(sshd_server, sftp_dir, bundle_files())
    manifest = _sftp_manifest(tmp_path, sshd_server, sftp_dir)
    env = {"SFTP_PASSWORD": sshd_server.password}

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)

    assert first.fingerprint == content_fingerprint(bundle_files())
    assert (first.changed, first.fetched_files) == (True, tuple(sorted(bundle_files())))
    assert tree_of(first.active_dir) == bundle_files()
    assert (again.changed, again.fetched_files) == (False, ())  # size and mtime unchanged: hashes reused


@pytest.mark.servers
def test_a_changed_sftp_file_is_the_only_one_downloaded_again(
    tmp_path: Path, sshd_server: SshdServer, sftp_dir: str
) -> None:
    _put_bundle(sshd_server, sftp_dir, bundle_files())
    manifest = _sftp_manifest(tmp_path, sshd_server, sftp_dir)
    env = {"SFTP_PASSWORD": sshd_server.password}
    sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)
    sshd_server.put(f"{sftp_dir}/profiles.yaml", b"changed: {}\n", mtime=1_700_000_100)

    second = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)

    assert second.fetched_files == ("profiles.yaml",)
    assert second.fingerprint == content_fingerprint({**bundle_files(), "profiles.yaml": b"changed: {}\n"})


@pytest.mark.servers
def test_a_relaxed_sftp_fingerprint_is_size_and_mtime(tmp_path: Path, sshd_server: SshdServer, sftp_dir: str) -> None:
    _put_bundle(sshd_server, sftp_dir, bundle_files(), mtime=1_700_000_000)
    manifest = _sftp_manifest(tmp_path, sshd_server, sftp_dir, strict_fingerprint=False)

    active = sync_bundle(
        str(manifest), work_root=tmp_path / "work", allow_stale=False, env={"SFTP_PASSWORD": sshd_server.password}
    )

    expected = [(rel, f"sz:{len(data)}|mt_ms:1700000000000") for rel, data in bundle_files().items()]
    assert active.fingerprint == _fingerprint(expected)


# -- databases ---------------------------------------------------------------------------------------------------------

ASSETS_DDL = "CREATE TABLE assets (bundle TEXT, path TEXT, sha256 TEXT, size INTEGER, updated_at {ts}, data {blob})"


def _rows(files: dict[str, bytes], *, bundle: str = "b1", with_sha: bool = True) -> list[tuple[Any, ...]]:
    return [
        (bundle, rel, hashlib.sha256(data).hexdigest() if with_sha else None, len(data), 1_700_000_000.0, data)
        for rel, data in files.items()
    ]


def _db_manifest(tmp_path: Path, resource: dict[str, Any], **source: Any) -> Path:
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "db", "resource": "assets", "bundle": "b1", **source},
        resources={"assets": resource},
    )


@pytest.fixture
def sqlite_assets(tmp_path: Path) -> Path:
    path = tmp_path / "assets.db"
    with sqlite3.connect(path) as conn:
        conn.execute(ASSETS_DDL.format(ts="REAL", blob="BLOB"))
        conn.executemany("INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)", _rows(bundle_files()))
        conn.executemany("INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)", _rows({"other.txt": b"x"}, bundle="b2"))
        conn.execute("INSERT INTO assets VALUES ('b1', NULL, NULL, NULL, NULL, x'00')")
    return path


def test_a_database_bundle_is_read_with_the_default_queries(tmp_path: Path, sqlite_assets: Path) -> None:
    manifest = _db_manifest(tmp_path, {"kind": "db", "driver": "sqlite3", "config": {"path": str(sqlite_assets)}})

    active = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert active.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(active.active_dir) == bundle_files()  # other bundles' rows and rows without a path are ignored


def test_database_rows_without_a_hash_are_hashed_from_their_content(tmp_path: Path) -> None:
    path = tmp_path / "assets.db"
    with sqlite3.connect(path) as conn:
        conn.execute(ASSETS_DDL.format(ts="REAL", blob="BLOB"))
        conn.executemany("INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)", _rows(bundle_files(), with_sha=False))
    manifest = _db_manifest(tmp_path, {"kind": "db", "driver": "sqlite3", "config": {"path": str(path)}})

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert first.fingerprint == content_fingerprint(bundle_files())
    assert (again.changed, again.fetched_files) == (False, ())


def test_custom_list_and_fetch_queries_are_used(tmp_path: Path) -> None:
    path = tmp_path / "assets.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE files (name TEXT, body BLOB, tag TEXT)")
        conn.executemany("INSERT INTO files VALUES (?, ?, 'live')", list(bundle_files().items()))
    manifest = _db_manifest(
        tmp_path,
        {"kind": "db", "driver": "sqlite3", "config": {"path": str(path)}},
        list_sql="SELECT name AS path FROM files WHERE tag = 'live'",
        fetch_sql="SELECT body FROM files WHERE name = :path",
    )

    active = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert tree_of(active.active_dir) == bundle_files()


@pytest.mark.servers
def test_a_postgresql_bundle_is_read_through_sqlalchemy(tmp_path: Path, postgres: PostgresServer) -> None:
    with postgres.connect() as conn:
        conn.execute(ASSETS_DDL.format(ts="TIMESTAMPTZ", blob="BYTEA"))
        for bundle, rel, sha, size, _ts, data in _rows(bundle_files()):
            conn.execute(
                "INSERT INTO assets VALUES (%s, %s, %s, %s, to_timestamp(1700000000), %s)",
                (bundle, rel, sha, size, data),
            )
    resource = {"kind": "db", "driver": "postgres", "config": {"url": "{{env.ASSETS_DB_URL}}"}}
    manifest = _db_manifest(tmp_path, resource)
    env = {"ASSETS_DB_URL": postgres.url()}

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False, env=env)

    assert first.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(first.active_dir) == bundle_files()
    assert (again.changed, again.fetched_files) == (False, ())
    snapshot = json.loads((first.fingerprints_dir / f"{first.fingerprint}.json").read_text())
    assert {f["mtime"] for f in snapshot["files"]} == {1_700_000_000.0}


# -- S3 ----------------------------------------------------------------------------------------------------------------


def _s3_manifest(tmp_path: Path, server: S3Server, bucket: str | None, base_path: str, **source: Any) -> Path:
    config = server.config(**({"bucket": bucket} if bucket else {}))
    return write_manifest(
        tmp_path / "m.yaml",
        {"type": "s3", "resource": "store", "base_path": base_path, **source},
        resources={"store": {"kind": "s3", "driver": "boto3", "config": config}},
    )


@pytest.fixture
def s3_bundle(s3_server: S3Server, s3_bucket: str) -> str:
    client = s3_server.client()
    for rel, data in bundle_files().items():
        client.put_object(Bucket=s3_bucket, Key=f"bundles/demo/{rel}", Body=data)
    client.put_object(Bucket=s3_bucket, Key="bundles/demo-other/x.txt", Body=b"not in the bundle")
    return s3_bucket


@pytest.mark.servers
def test_an_s3_bundle_is_synced_from_a_prefix(tmp_path: Path, s3_server: S3Server, s3_bundle: str) -> None:
    manifest = _s3_manifest(tmp_path, s3_server, s3_bundle, "bundles/demo")

    active = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert active.fingerprint == content_fingerprint(bundle_files())
    assert tree_of(active.active_dir) == bundle_files()


@pytest.mark.servers
def test_a_relaxed_s3_fingerprint_uses_the_etags(tmp_path: Path, s3_server: S3Server, s3_bundle: str) -> None:
    manifest = _s3_manifest(tmp_path, s3_server, None, f"{s3_bundle}/bundles/demo/", strict_fingerprint=False)
    listed = s3_server.client().list_objects_v2(Bucket=s3_bundle, Prefix="bundles/demo/")["Contents"]
    etags = [(o["Key"].removeprefix("bundles/demo/"), "etag:" + o["ETag"].strip('"')) for o in listed]

    first = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)
    again = sync_bundle(str(manifest), work_root=tmp_path / "work", allow_stale=False)

    assert first.fingerprint == _fingerprint(etags)
    assert tree_of(first.active_dir) == bundle_files()
    assert (again.changed, again.fetched_files) == (False, ())
