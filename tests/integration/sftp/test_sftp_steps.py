"""SFTP steps against a real OpenSSH sshd: listing, downloads, atomic uploads with a manifest, deletes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from aetherflow.api import Status
from aetherflow.errors import ConnectorError
from tests.servers.sshd import SshdServer
from tests.support.context import run_step


def test_list_returns_matching_regular_files_sorted_by_rel_path(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    sshd_server.put(f"{sftp_dir}/b.csv", b"bb")
    sshd_server.put(f"{sftp_dir}/a.csv", b"a")
    sshd_server.put(f"{sftp_dir}/notes.txt", b"n")
    sshd_server.make_dir(f"{sftp_dir}/sub.csv")
    ctx, _ = sftp_step_env()

    result = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir, "pattern": "*.csv"})

    assert result.status == Status.SUCCESS
    assert result.output["has_data"] is True
    assert result.output["count"] == 2
    first = result.output["files"][0]
    assert first == {
        "path": f"{sftp_dir}/a.csv",
        "rel_path": "a.csv",
        "name": "a.csv",
        "is_dir": False,
        "size": 1,
        "mtime": first["mtime"],
        "sha256": None,
    }
    assert [f["rel_path"] for f in result.output["files"]] == ["a.csv", "b.csv"]
    assert abs(first["mtime"] - time.time()) < 60


def test_recursive_list_descends_into_subdirectories(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    sshd_server.put(f"{sftp_dir}/top.csv", b"1")
    sshd_server.put(f"{sftp_dir}/2024/01/deep.csv", b"22")
    ctx, _ = sftp_step_env()

    flat = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir})
    deep = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir, "recursive": "yes"})

    assert [f["rel_path"] for f in flat.output["files"]] == ["top.csv"]
    assert [f["rel_path"] for f in deep.output["files"]] == ["2024/01/deep.csv", "top.csv"]
    assert deep.output["files"][0]["path"] == f"{sftp_dir}/2024/01/deep.csv"


def test_list_leaves_out_files_younger_than_min_age_seconds(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    sshd_server.put(f"{sftp_dir}/old.csv", b"o", mtime=time.time() - 600)
    sshd_server.put(f"{sftp_dir}/fresh.csv", b"f")
    ctx, _ = sftp_step_env()

    result = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir, "min_age_seconds": 120})

    assert [f["name"] for f in result.output["files"]] == ["old.csv"]


def test_list_is_skipped_when_fewer_files_than_min_count(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    sshd_server.put(f"{sftp_dir}/only.csv", b"x")
    ctx, _ = sftp_step_env()

    result = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir, "min_count": "2"})

    assert result.status == Status.SKIPPED
    assert result.output == {"has_data": False, "count": 1, "files": [], "reason": "count(1) < min_count(2)"}


def test_list_of_missing_directory_fails_permanently(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()

    with pytest.raises(ConnectorError, match="remote path not found") as caught:
        run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": f"{sftp_dir}/nope"})

    assert caught.value.transient is False


def test_download_writes_listed_files_under_dest_dir_by_rel_path(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several pipelined requests plus a short tail
    sshd_server.put(f"{sftp_dir}/in/big.bin", payload)
    sshd_server.put(f"{sftp_dir}/top.txt", b"top")
    ctx, _ = sftp_step_env()
    listed = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir, "recursive": True})

    result = run_step(
        ctx, "sftp_download_files", {"resource": "sftp", "files": listed.output["files"], "dest_dir": "incoming"}
    )

    dest = ctx.artifacts_dir / "incoming"
    assert result.output == {
        "local_files": [str(dest / "in" / "big.bin"), str(dest / "top.txt")],
        "dest_dir": str(dest),
    }
    assert (dest / "in" / "big.bin").read_bytes() == payload
    assert (dest / "top.txt").read_bytes() == b"top"
    assert not list(dest.rglob("*.tmp"))


def test_download_of_a_path_string_uses_its_base_name(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    sshd_server.put(f"{sftp_dir}/deep/x.csv", b"x")
    ctx, _ = sftp_step_env()

    result = run_step(
        ctx, "sftp_download_files", {"resource": "sftp", "files": [f"{sftp_dir}/deep/x.csv"], "dest_dir": "d"}
    )

    assert result.output["local_files"] == [str(ctx.artifacts_dir / "d" / "x.csv")]


def test_download_refuses_rel_path_that_escapes_dest_dir(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()
    entry = {"path": f"{sftp_dir}/a.csv", "rel_path": "../../outside.csv"}

    with pytest.raises(ValueError, match=r"^dest path escapes dest_dir: \.\./\.\./outside\.csv$"):
        run_step(ctx, "sftp_download_files", {"resource": "sftp", "files": [entry], "dest_dir": "d"})

    assert not (ctx.artifacts_dir / "outside.csv").exists()


def test_download_of_missing_remote_file_fails_permanently_and_leaves_nothing(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()

    with pytest.raises(ConnectorError, match=f"remote path not found: {sftp_dir}/gone.csv") as caught:
        run_step(ctx, "sftp_download_files", {"resource": "sftp", "files": [f"{sftp_dir}/gone.csv"], "dest_dir": "d"})

    assert caught.value.transient is False
    assert list((ctx.artifacts_dir / "d").iterdir()) == []


def test_upload_places_files_atomically_and_writes_a_manifest(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env(step_id="push")
    (ctx.artifacts_dir / "a.csv").write_bytes(b"a" * 100)
    (ctx.artifacts_dir / "b.bin").write_bytes(os.urandom(600_000))
    items = ["a.csv", {"file": "b.bin", "id": "blob", "remote_name": "renamed.bin"}]

    result = run_step(ctx, "sftp_upload_files", {"resource": "sftp", "items": items, "remote_dir": sftp_dir})

    remote = sshd_server.home / sftp_dir
    assert (remote / "a.csv").read_bytes() == b"a" * 100
    assert (remote / "renamed.bin").read_bytes() == (ctx.artifacts_dir / "b.bin").read_bytes()
    assert sorted(p.name for p in remote.iterdir()) == ["a.csv", "renamed.bin"]  # no .part left behind
    manifest = ctx.manifests_dir / "push.manifest.json"
    assert result.output == {"manifest": str(manifest), "count": 2}
    assert json.loads(manifest.read_text()) == [
        {"id": "a.csv", "file": str(ctx.artifacts_dir / "a.csv"), "remote_path": f"{sftp_dir}/a.csv"},
        {"id": "blob", "file": str(ctx.artifacts_dir / "b.bin"), "remote_path": f"{sftp_dir}/renamed.bin"},
    ]


def test_retried_upload_skips_ids_already_in_the_manifest(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env(step_id="push")
    (ctx.artifacts_dir / "a.csv").write_bytes(b"first")
    inputs = {"resource": "sftp", "items": ["a.csv"], "remote_dir": sftp_dir}
    run_step(ctx, "sftp_upload_files", inputs)
    (sshd_server.home / sftp_dir / "a.csv").write_bytes(b"changed remotely")
    (ctx.artifacts_dir / "b.csv").write_bytes(b"b")

    again = run_step(ctx, "sftp_upload_files", {**inputs, "items": ["a.csv", "b.csv"]})

    assert (sshd_server.home / sftp_dir / "a.csv").read_bytes() == b"changed remotely"
    assert (sshd_server.home / sftp_dir / "b.csv").read_bytes() == b"b"
    entries = json.loads(Path(again.output["manifest"]).read_text())
    assert [(e["id"], e.get("skipped", False)) for e in entries] == [("a.csv", True), ("b.csv", False)]
    assert again.output["count"] == 2


def test_parallel_upload_transfers_every_item(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()
    names = [f"part-{i:02d}.dat" for i in range(12)]
    for i, name in enumerate(names):
        (ctx.artifacts_dir / name).write_bytes(bytes([i]) * (50_000 + i))

    result = run_step(
        ctx,
        "sftp_upload_files",
        {"resource": "sftp", "items": names, "remote_dir": sftp_dir, "parallelism": {"workers": 4}},
    )

    assert result.output["count"] == 12
    for i, name in enumerate(names):
        assert (sshd_server.home / sftp_dir / name).read_bytes() == bytes([i]) * (50_000 + i)


def test_upload_replaces_an_existing_remote_file(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    sshd_server.put(f"{sftp_dir}/report.csv", b"old version")
    sshd_server.put(f"{sftp_dir}/report.csv.part", b"stale part from a killed attempt")
    ctx, _ = sftp_step_env()
    (ctx.artifacts_dir / "report.csv").write_bytes(b"new")

    run_step(ctx, "sftp_upload_files", {"resource": "sftp", "items": ["report.csv"], "remote_dir": sftp_dir})

    assert (sshd_server.home / sftp_dir / "report.csv").read_bytes() == b"new"
    assert not (sshd_server.home / sftp_dir / "report.csv.part").exists()


def test_upload_of_missing_local_file_fails_before_connecting(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()

    with pytest.raises(ValueError, match=r"sftp_upload_files file not found: .*missing\.csv"):
        run_step(ctx, "sftp_upload_files", {"resource": "sftp", "items": ["missing.csv"], "remote_dir": sftp_dir})


def test_upload_into_missing_remote_directory_fails_permanently(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()
    (ctx.artifacts_dir / "a.csv").write_bytes(b"a")

    with pytest.raises(ConnectorError, match="remote path not found") as caught:
        run_step(ctx, "sftp_upload_files", {"resource": "sftp", "items": ["a.csv"], "remote_dir": f"{sftp_dir}/no/dir"})

    assert caught.value.transient is False


def test_upload_killed_mid_transfer_leaves_no_file_under_the_final_name(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, _ = sftp_step_env()
    local = ctx.artifacts_dir / "big.bin"
    local.write_bytes(os.urandom(8 * 1024 * 1024))
    connector = ctx.connector("sftp")
    remote = f"{sftp_dir}/big.bin"
    killed: list[int] = []

    def kill_session(sent: int) -> None:
        if not killed:
            killed.extend(sshd_server.session_pids())
            for pid in killed:
                os.kill(pid, 9)

    with pytest.raises(ConnectorError) as caught:
        connector.upload(local, remote, progress=kill_session)

    assert killed
    assert caught.value.transient is True
    assert not (sshd_server.home / remote).exists()
    # The next attempt reconnects, overwrites the stale .part and completes.
    connector.upload(local, remote)
    assert (sshd_server.home / remote).read_bytes() == local.read_bytes()
    assert not (sshd_server.home / f"{remote}.part").exists()


def test_cancelled_upload_stops_and_removes_its_part_file(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    from aetherflow.errors import Interrupted

    ctx, _ = sftp_step_env()
    local = ctx.artifacts_dir / "big.bin"
    local.write_bytes(os.urandom(4 * 1024 * 1024))

    with pytest.raises(Interrupted):
        ctx.connector("sftp").upload(
            local, f"{sftp_dir}/big.bin", cancelled=ctx.cancelled, progress=lambda _: ctx.cancelled.set()
        )

    assert list((sshd_server.home / sftp_dir).iterdir()) == []


def test_delete_removes_listed_files(sshd_server: SshdServer, sftp_dir: str, sftp_step_env) -> None:
    sshd_server.put(f"{sftp_dir}/a.csv", b"a")
    sshd_server.put(f"{sftp_dir}/b.csv", b"b")
    ctx, _ = sftp_step_env()
    listed = run_step(ctx, "sftp_list_files", {"resource": "sftp", "remote_dir": sftp_dir})

    result = run_step(ctx, "sftp_delete_files", {"resource": "sftp", "files": listed.output["files"]})

    assert result.output == {"is_deleted": True}
    assert list((sshd_server.home / sftp_dir).iterdir()) == []


def test_delete_of_missing_remote_file_fails_permanently(sftp_dir: str, sftp_step_env) -> None:
    ctx, _ = sftp_step_env()

    with pytest.raises(ConnectorError, match=f"remote path not found: {sftp_dir}/ghost.csv") as caught:
        run_step(ctx, "sftp_delete_files", {"resource": "sftp", "files": [f"{sftp_dir}/ghost.csv"]})

    assert caught.value.transient is False


def test_without_fail_fast_every_item_is_tried_before_the_step_fails(
    sshd_server: SshdServer, sftp_dir: str, sftp_step_env
) -> None:
    ctx, events = sftp_step_env(step_id="push")
    for name in ("a.csv", "b.csv", "c.csv"):
        (ctx.artifacts_dir / name).write_text(name)
    items = ["a.csv", {"file": "b.csv", "remote_name": "missing-dir/b.csv"}, "c.csv"]

    with pytest.raises(ConnectorError, match="remote path not found"):
        run_step(
            ctx,
            "sftp_upload_files",
            {"resource": "sftp", "items": items, "remote_dir": sftp_dir, "parallelism": {"fail_fast": False}},
        )

    assert sorted(p.name for p in (sshd_server.home / sftp_dir).iterdir()) == ["a.csv", "c.csv"]
    manifest = json.loads((ctx.manifests_dir / "push.manifest.json").read_text())
    assert [m["id"] for m in manifest] == ["a.csv", "c.csv"]
    assert [e["id"] for e in events.named("sftp_upload_failed")] == ["b.csv"]
