"""SMB steps and connectors against a real Samba server: atomic uploads, stops, faults and hostile paths."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from aetherflow.api import Status
from aetherflow.errors import ConnectorError, Interrupted
from aetherflow.spec.resources import ResolvedResource
from tests.integration.smb.conftest import smb_resource
from tests.servers.smb import SmbServer
from tests.support.context import make_step_context, run_step
from tests.support.procs import descendants_of

pytestmark = pytest.mark.servers


def test_an_upload_replaces_the_existing_file_and_leaves_no_part_file(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    smb_server.put(f"{smb_dir}/report.csv", b"old")
    ctx, events = smb_step_env()
    (ctx.artifacts_dir / "report.csv").write_bytes(b"new content")

    result = run_step(
        ctx, "smb_upload_files", {"resource": "share", "local_files": "report.csv", "remote_dir": smb_dir}
    )

    assert result.status == Status.SUCCESS
    assert result.output["uploaded"] == [str(ctx.artifacts_dir / "report.csv")]
    assert smb_server.files(smb_dir) == {"report.csv": b"new content"}
    [uploaded] = events.named("smb_file_uploaded")
    assert (uploaded["remote_path"], uploaded["bytes"]) == (f"{smb_dir}/report.csv", 11)


def test_an_upload_creates_missing_remote_directories(smb_server: SmbServer, smb_dir: str, smb_step_env) -> None:
    ctx, _ = smb_step_env()
    (ctx.artifacts_dir / "a.txt").write_bytes(b"a")

    run_step(ctx, "smb_upload_files", {"resource": "share", "local_files": ["a.txt"], "remote_dir": f"{smb_dir}/x/y"})

    assert smb_server.files(smb_dir) == {"x/y/a.txt": b"a"}


def test_a_stopped_upload_keeps_the_previous_file_and_removes_its_part_file(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    smb_server.put(f"{smb_dir}/big.bin", b"previous")
    ctx, _ = smb_step_env()
    local = ctx.artifacts_dir / "big.bin"
    local.write_bytes(os.urandom(4 * 1024 * 1024))

    with pytest.raises(Interrupted):
        ctx.connector("share").upload(
            local, f"{smb_dir}/big.bin", cancelled=ctx.cancelled, progress=lambda _: ctx.cancelled.set()
        )

    assert smb_server.files(smb_dir) == {"big.bin": b"previous"}


def test_a_session_killed_mid_upload_is_transient_and_the_next_attempt_completes(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    ctx, _ = smb_step_env()
    local = ctx.artifacts_dir / "big.bin"
    local.write_bytes(os.urandom(8 * 1024 * 1024))
    connector = ctx.connector("share")
    connector.list_files(smb_dir)  # the session's smbd child exists from here on
    killed: list[int] = []

    def kill_session(sent: int) -> None:
        if not killed:
            killed.extend(descendants_of(smb_server.process.pid))
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(ConnectorError) as caught:
        connector.upload(local, f"{smb_dir}/big.bin", progress=kill_session)

    assert killed
    assert caught.value.transient is True
    assert "big.bin" not in smb_server.files(smb_dir)
    connector.upload(local, f"{smb_dir}/big.bin")  # reconnects, overwrites the stale .part
    assert smb_server.files(smb_dir) == {"big.bin": local.read_bytes()}


def test_a_download_entry_whose_rel_path_leaves_dest_dir_is_refused(smb_dir: str, smb_step_env) -> None:
    ctx, _ = smb_step_env()
    entry = {"path": f"{smb_dir}/a.csv", "rel_path": "../../outside.csv"}

    with pytest.raises(ValueError, match=r"dest path escapes dest_dir: \.\./\.\./outside\.csv"):
        run_step(ctx, "smb_download_files", {"resource": "share", "files": [entry], "dest_dir": "in"})

    assert not (ctx.artifacts_dir.parent / "outside.csv").exists()


def test_a_download_of_a_missing_file_fails_permanently_and_leaves_nothing(smb_dir: str, smb_step_env) -> None:
    ctx, _ = smb_step_env()

    with pytest.raises(ConnectorError, match=f"remote path not found: {smb_dir}/ghost.csv") as caught:
        run_step(ctx, "smb_download_files", {"resource": "share", "files": f"{smb_dir}/ghost.csv", "dest_dir": "in"})

    assert caught.value.transient is False
    assert list((ctx.artifacts_dir / "in").iterdir()) == []


def test_deleting_a_missing_file_fails_permanently(smb_dir: str, smb_step_env) -> None:
    ctx, _ = smb_step_env()

    with pytest.raises(ConnectorError, match=f"remote path not found: {smb_dir}/ghost.csv") as caught:
        run_step(ctx, "smb_delete_files", {"resource": "share", "files": [f"{smb_dir}/ghost.csv"]})

    assert caught.value.transient is False


def test_a_wildcard_in_a_delete_path_never_reaches_the_server(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    smb_server.put(f"{smb_dir}/a.csv", b"a")
    smb_server.put(f"{smb_dir}/b.csv", b"b")
    ctx, _ = smb_step_env()

    with pytest.raises(ConnectorError, match="character SMB names cannot hold"):
        run_step(ctx, "smb_delete_files", {"resource": "share", "files": [f"{smb_dir}/*.csv"]})

    assert smb_server.files(smb_dir) == {"a.csv": b"a", "b.csv": b"b"}


def test_two_local_files_with_one_base_name_are_refused_before_uploading(smb_dir: str, smb_step_env) -> None:
    ctx, _ = smb_step_env()
    for sub in ("x", "y"):
        (ctx.artifacts_dir / sub).mkdir()
        (ctx.artifacts_dir / sub / "same.csv").write_bytes(sub.encode())

    with pytest.raises(ValueError, match=r"would both be uploaded as 'same\.csv'"):
        run_step(ctx, "smb_upload_files", {"resource": "share", "local_files": ["x", "y"], "remote_dir": smb_dir})


def test_the_upstream_connector_contract_serves_legacy_plugins(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    smb_server.put(f"{smb_dir}/in/a.txt", b"alpha")
    ctx, _ = smb_step_env()
    connector = ctx.connector("share")

    connector.write_bytes(f"data:/{smb_dir}/out/b.txt", b"beta")
    listed = connector.list(f"{smb_dir}")

    assert sorted((e.name, e.is_dir) for e in listed) == [("in", True), ("out", True)]
    assert connector.read_bytes(f"\\\\{smb_server.host}\\data\\{smb_dir}\\in\\a.txt") == b"alpha"
    connector.delete_recursive(f"{smb_dir}/in")
    assert smb_server.files(smb_dir) == {"out/b.txt": b"beta"}


@pytest.mark.parametrize(("driver", "module"), [("smbclient", "smbclient"), ("pysmb", "smb")])
def test_without_the_smb_extra_the_error_names_it(
    tmp_path: Path, smb_server: SmbServer, monkeypatch: pytest.MonkeyPatch, driver: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as when the library is not installed
    monkeypatch.setitem(sys.modules, f"{module}.SMBConnection", None)
    ctx, _, pool = make_step_context(tmp_path, resources={"share": smb_resource(smb_server, driver)})
    try:
        with pytest.raises(ConnectorError, match=r"needs the \w+ library: install aetherflow\[smb\]") as caught:
            run_step(ctx, "smb_list_files", {"resource": "share", "remote_dir": "/"})
    finally:
        pool.close_all()
    assert caught.value.transient is False


@pytest.mark.parametrize("driver", ["smbclient", "pysmb"])
def test_a_server_that_accepts_but_never_answers_times_out_as_transient(tmp_path: Path, driver: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections complete in the kernel; nothing ever replies
        port = silent.getsockname()[1]
        resource = ResolvedResource(
            name="share",
            kind="smb",
            driver=driver,
            config={"server": "127.0.0.1", "port": port, "share": "data", "username": "u", "password": "p"},
            options={"timeout": 1},
        )
        ctx, _, pool = make_step_context(tmp_path, resources={"share": resource})
        started = time.monotonic()
        try:
            with pytest.raises(ConnectorError, match=f"SMB server 127.0.0.1:{port} unreachable") as caught:
                run_step(ctx, "smb_list_files", {"resource": "share", "remote_dir": "/"})
        finally:
            pool.close_all()

    assert caught.value.transient is True
    assert time.monotonic() - started < 10


def test_a_stopped_download_leaves_no_local_file_and_the_session_usable(
    smb_server: SmbServer, smb_dir: str, smb_step_env
) -> None:
    smb_server.put(f"{smb_dir}/big.bin", os.urandom(4 * 1024 * 1024))
    ctx, _ = smb_step_env()
    connector = ctx.connector("share")
    target = ctx.artifacts_dir / "in" / "big.bin"

    with pytest.raises(Interrupted):
        connector.download(
            f"{smb_dir}/big.bin", target, cancelled=ctx.cancelled, progress=lambda _: ctx.cancelled.set()
        )

    assert list(target.parent.iterdir()) == []
    assert [f["name"] for f in connector.list_files(smb_dir)] == ["big.bin"]


def test_list_leaves_out_files_younger_than_min_age_seconds(smb_server: SmbServer, smb_dir: str, smb_step_env) -> None:
    smb_server.put(f"{smb_dir}/old.csv", b"o", mtime=time.time() - 3600)
    smb_server.put(f"{smb_dir}/fresh.csv", b"f")
    ctx, _ = smb_step_env()

    result = run_step(ctx, "smb_list_files", {"resource": "share", "remote_dir": smb_dir, "min_age_seconds": 60})

    assert [(f["name"], f["size"]) for f in result.output["files"]] == [("old.csv", 1)]
    assert abs(result.output["files"][0]["mtime"] - (time.time() - 3600)) < 5
