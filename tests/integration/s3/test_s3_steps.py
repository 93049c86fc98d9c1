"""S3 steps against the S3 API of a moto server: listing, downloads, multipart uploads, manifest, deletes."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from aetherflow.api import Status
from aetherflow.errors import ConnectorError, Interrupted
from tests.servers.s3 import S3Server
from tests.support.context import run_step

MIB = 1024 * 1024


def _put(s3_server: S3Server, bucket: str, key: str, body: bytes = b"x") -> None:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=body)


def test_list_returns_entries_under_prefix_sorted_by_key(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    for key in ["exports/b.csv", "exports/a.csv", "exports/2024/deep.csv", "exports/notes.txt", "other/z.csv"]:
        _put(s3_server, s3_bucket, key, b"data")
    ctx, _ = s3_step_env()

    result = run_step(ctx, "s3_list_files", {"resource": "lake", "prefix": "exports/", "pattern": "*.csv"})

    files = result.output["files"]
    assert [f["key"] for f in files] == ["exports/2024/deep.csv", "exports/a.csv", "exports/b.csv"]
    first = files[0]
    assert first["bucket"] == s3_bucket
    assert first["rel_path"] == "2024/deep.csv"
    assert first["name"] == "deep.csv"
    assert first["size"] == 4
    assert first["path"] == f"s3://{s3_bucket}/exports/2024/deep.csv"
    assert first["etag"] and '"' not in first["etag"]
    assert isinstance(first["mtime"], int)
    assert result.output["count"] == 3


def test_non_recursive_list_stays_on_one_level(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    _put(s3_server, s3_bucket, "exports/a.csv")
    _put(s3_server, s3_bucket, "exports/2024/deep.csv")
    ctx, _ = s3_step_env()

    result = run_step(ctx, "s3_list_files", {"resource": "lake", "prefix": "exports/", "recursive": "false"})

    assert [f["key"] for f in result.output["files"]] == ["exports/a.csv"]


def test_list_is_skipped_when_fewer_than_min_count(s3_step_env) -> None:
    ctx, _ = s3_step_env()

    result = run_step(ctx, "s3_list_files", {"resource": "lake", "prefix": "nothing/"})

    assert result.status == Status.SKIPPED
    assert result.output == {"has_data": False, "count": 0, "files": [], "reason": "count(0) < min_count(1)"}


def test_list_of_missing_bucket_fails_permanently(s3_step_env) -> None:
    ctx, _ = s3_step_env()

    with pytest.raises(ConnectorError, match="bucket not found") as caught:
        run_step(ctx, "s3_list_files", {"resource": "lake", "bucket": "no-such-bucket-af"})

    assert caught.value.transient is False


def test_download_writes_objects_under_dest_dir_by_rel_path(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    _put(s3_server, s3_bucket, "in/2024/a.csv", b"a-data")
    _put(s3_server, s3_bucket, "in/b.csv", b"b-data")
    ctx, _ = s3_step_env()
    listed = run_step(ctx, "s3_list_files", {"resource": "lake", "prefix": "in/"})

    result = run_step(ctx, "s3_download_files", {"resource": "lake", "files": listed.output["files"], "dest_dir": "d"})

    dest = ctx.artifacts_dir / "d"
    assert result.output == {"local_files": [str(dest / "2024" / "a.csv"), str(dest / "b.csv")], "dest_dir": str(dest)}
    assert (dest / "2024" / "a.csv").read_bytes() == b"a-data"
    assert not list(dest.rglob("*.tmp"))


def test_download_of_a_key_string_uses_its_base_name(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    _put(s3_server, s3_bucket, "deep/dir/x.csv", b"x")
    ctx, _ = s3_step_env()

    result = run_step(ctx, "s3_download_files", {"resource": "lake", "files": "deep/dir/x.csv", "dest_dir": "d"})

    assert result.output["local_files"] == [str(ctx.artifacts_dir / "d" / "x.csv")]


def test_download_refuses_rel_path_that_escapes_dest_dir(s3_step_env) -> None:
    ctx, _ = s3_step_env()
    entry = {"key": "a.csv", "rel_path": "../escape.csv"}

    with pytest.raises(ValueError, match=r"^dest path escapes dest_dir: \.\./escape\.csv$"):
        run_step(ctx, "s3_download_files", {"resource": "lake", "files": [entry], "dest_dir": "d"})


def test_download_of_missing_key_fails_permanently(s3_bucket: str, s3_step_env) -> None:
    ctx, _ = s3_step_env()

    with pytest.raises(ConnectorError, match=f"object not found: s3://{s3_bucket}/missing.csv") as caught:
        run_step(ctx, "s3_download_files", {"resource": "lake", "files": ["missing.csv"], "dest_dir": "d"})

    assert caught.value.transient is False
    assert list((ctx.artifacts_dir / "d").iterdir()) == []


def test_upload_sends_files_and_globs_and_writes_a_manifest(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    ctx, _ = s3_step_env(step_id="push")
    out = ctx.artifacts_dir / "out"
    out.mkdir()
    (out / "a.csv").write_text("a")
    (out / "b.csv").write_text("bb")
    (out / "skip.txt").write_text("t")
    (ctx.artifacts_dir / "report.json").write_text("{}")
    items = ["out/*.csv", {"file": "report.json", "key": "meta/report-final.json"}]

    result = run_step(ctx, "s3_upload_files", {"resource": "lake", "items": items, "prefix": "daily/"})

    client = s3_server.client()
    assert client.get_object(Bucket=s3_bucket, Key="daily/a.csv")["Body"].read() == b"a"
    assert client.get_object(Bucket=s3_bucket, Key="daily/b.csv")["Body"].read() == b"bb"
    head = client.head_object(Bucket=s3_bucket, Key="meta/report-final.json")
    assert head["ContentType"] == "application/json"
    assert [(u["key"], bool(u["etag"])) for u in result.output["uploaded"]] == [
        ("daily/a.csv", True),
        ("daily/b.csv", True),
        ("meta/report-final.json", True),
    ]
    assert result.output["count"] == 3
    manifest = json.loads(Path(result.output["manifest"]).read_text())
    assert [m["id"] for m in manifest] == ["daily/a.csv", "daily/b.csv", "meta/report-final.json"]
    assert result.output["manifest"] == str(ctx.manifests_dir / "push.manifest.json")


def test_upload_with_overwrite_false_skips_existing_keys(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    _put(s3_server, s3_bucket, "a.csv", b"original")
    ctx, events = s3_step_env()
    (ctx.artifacts_dir / "a.csv").write_text("new")
    (ctx.artifacts_dir / "b.csv").write_text("b")

    result = run_step(ctx, "s3_upload_files", {"resource": "lake", "items": ["a.csv", "b.csv"], "overwrite": "no"})

    client = s3_server.client()
    assert client.get_object(Bucket=s3_bucket, Key="a.csv")["Body"].read() == b"original"
    assert client.get_object(Bucket=s3_bucket, Key="b.csv")["Body"].read() == b"b"
    assert [u["key"] for u in result.output["uploaded"]] == ["b.csv"]
    manifest = json.loads(Path(result.output["manifest"]).read_text())
    assert manifest[0] == {
        "id": "a.csv",
        "file": str(ctx.artifacts_dir / "a.csv"),
        "key": "a.csv",
        "skipped": True,
        "reason": "exists",
    }
    assert events.named("s3_object_exists_skipped")


def test_retried_upload_skips_keys_already_in_the_manifest(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    ctx, _ = s3_step_env(step_id="push")
    (ctx.artifacts_dir / "a.csv").write_text("first")
    run_step(ctx, "s3_upload_files", {"resource": "lake", "items": ["a.csv"]})
    _put(s3_server, s3_bucket, "a.csv", b"changed in the bucket")
    (ctx.artifacts_dir / "b.csv").write_text("b")

    again = run_step(ctx, "s3_upload_files", {"resource": "lake", "items": ["a.csv", "b.csv"]})

    client = s3_server.client()
    assert client.get_object(Bucket=s3_bucket, Key="a.csv")["Body"].read() == b"changed in the bucket"
    assert [u["key"] for u in again.output["uploaded"]] == ["a.csv", "b.csv"]
    manifest = json.loads(Path(again.output["manifest"]).read_text())
    assert [(m["id"], m.get("skipped", False)) for m in manifest] == [("a.csv", True), ("b.csv", False)]


def test_large_file_is_uploaded_as_multipart_in_8_mib_parts(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    ctx, _ = s3_step_env()
    payload = os.urandom(17 * MIB)
    (ctx.artifacts_dir / "big.bin").write_bytes(payload)

    result = run_step(ctx, "s3_upload_files", {"resource": "lake", "items": ["big.bin"]})

    etag = result.output["uploaded"][0]["etag"]
    assert etag.endswith("-3")  # multipart ETag: <md5 of part md5s>-<part count>: 8 + 8 + 1 MiB
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="big.bin")["Body"].read() == payload


def test_failed_multipart_upload_is_aborted_and_leaves_no_object(
    s3_server: S3Server, s3_bucket: str, s3_step_env
) -> None:
    ctx, _ = s3_step_env()
    local = ctx.artifacts_dir / "big.bin"
    local.write_bytes(os.urandom(17 * MIB))
    connector = ctx.connector("lake")

    def stop_after_first_part(sent: int) -> None:
        if sent >= 8 * MIB:
            ctx.cancelled.set()

    with pytest.raises(Interrupted):
        connector.upload(local, s3_bucket, "big.bin", cancelled=ctx.cancelled, progress=stop_after_first_part)

    client = s3_server.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


def test_upload_of_missing_local_file_is_an_error(s3_step_env) -> None:
    ctx, _ = s3_step_env()

    with pytest.raises(ValueError, match=r"^s3_upload_files file not found: .*/nope\.csv$"):
        run_step(ctx, "s3_upload_files", {"resource": "lake", "items": ["nope.csv"]})


def test_delete_removes_keys_and_ignores_missing_ones(s3_server: S3Server, s3_bucket: str, s3_step_env) -> None:
    _put(s3_server, s3_bucket, "a.csv")
    _put(s3_server, s3_bucket, "b.csv")
    ctx, _ = s3_step_env()
    listed = run_step(ctx, "s3_list_files", {"resource": "lake"})

    result = run_step(
        ctx, "s3_delete_files", {"resource": "lake", "files": [*listed.output["files"], "never-existed.csv"]}
    )

    assert result.output == {"is_deleted": True, "count": 3}
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


def test_missing_credentials_fail_permanently_with_a_hint(monkeypatch, tmp_path, s3_step_env) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    ctx, _ = s3_step_env(config={"access_key_id": None, "secret_access_key": None})

    with pytest.raises(ConnectorError, match="has no usable credentials") as caught:
        run_step(ctx, "s3_list_files", {"resource": "lake"})

    assert caught.value.transient is False


def test_unreachable_endpoint_is_transient(s3_step_env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    ctx, _ = s3_step_env(config={"endpoint_url": f"http://127.0.0.1:{closed_port}"})

    with pytest.raises(ConnectorError, match="connection failed") as caught:
        run_step(ctx, "s3_list_files", {"resource": "lake"})

    assert caught.value.transient is True
