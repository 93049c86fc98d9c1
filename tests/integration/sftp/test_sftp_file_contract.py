"""Upstream's file-connector contract on ``sftp:paramiko``, against the real sshd: what legacy plugins call."""

from __future__ import annotations

import os
import stat

import pytest

from aetherflow.api import RemoteFileMeta
from aetherflow.errors import ConnectorError
from tests.servers.sshd import SshdServer

CONTRACT = (
    "read_bytes",
    "write_bytes",
    "upload",
    "download",
    "list",
    "delete",
    "mkdir",
    "mkdir_recursive",
    "delete_recursive",
)

HOSTILE = 'we\'ird "name" \\ ü\N{SNOWMAN}.txt'


@pytest.fixture
def sftp(sftp_step_env):
    ctx, _events = sftp_step_env()
    return ctx.connector("sftp")


def test_the_connector_class_has_every_method_of_upstreams_file_contract() -> None:
    from aetherflow.connectors.sftp import ParamikoSftpConnector

    assert [m for m in CONTRACT if not callable(getattr(ParamikoSftpConnector, m, None))] == []


def test_list_shows_files_and_directories_one_level_deep(sshd_server: SshdServer, sftp_dir: str, sftp) -> None:
    sshd_server.put(f"{sftp_dir}/a.csv", b"abc", mtime=1_700_000_000)
    sshd_server.put(f"{sftp_dir}/sub/deep.csv", b"x")
    sshd_server.put(f"{sftp_dir}/{HOSTILE}", b"")

    listed = sftp.list(sftp_dir)

    assert listed == [
        RemoteFileMeta(path=f"{sftp_dir}/a.csv", name="a.csv", is_dir=False, size=3, mtime=1_700_000_000),
        RemoteFileMeta(path=f"{sftp_dir}/sub", name="sub", is_dir=True, size=None, mtime=listed[1].mtime),
        RemoteFileMeta(path=f"{sftp_dir}/{HOSTILE}", name=HOSTILE, is_dir=False, size=0, mtime=listed[2].mtime),
    ]


def test_write_bytes_creates_parents_and_read_bytes_returns_the_same_bytes(
    sshd_server: SshdServer, sftp_dir: str, sftp
) -> None:
    data = bytes(range(256)) * 4096 + b"\x00\r\n"  # 1 MiB and some: binary, NUL, CRLF
    target = f"{sftp_dir}/new/deeper/{HOSTILE}"

    sftp.write_bytes(target, data)

    assert sftp.read_bytes(target) == data
    assert (sshd_server.home / target).read_bytes() == data
    assert sorted(os.listdir(sshd_server.home / sftp_dir / "new" / "deeper")) == [HOSTILE]  # no .part left


def test_write_bytes_replaces_an_existing_file(sshd_server: SshdServer, sftp_dir: str, sftp) -> None:
    sshd_server.put(f"{sftp_dir}/f.txt", b"old contents, longer")

    sftp.write_bytes(f"{sftp_dir}/f.txt", b"new")

    assert (sshd_server.home / sftp_dir / "f.txt").read_bytes() == b"new"


def test_read_bytes_of_a_missing_file_is_a_permanent_connector_error(sftp_dir: str, sftp) -> None:
    with pytest.raises(ConnectorError) as caught:
        sftp.read_bytes(f"{sftp_dir}/absent.txt")

    assert "remote path not found" in str(caught.value)
    assert caught.value.transient is False


def test_mkdir_creates_one_directory_and_refuses_missing_parents(sshd_server: SshdServer, sftp_dir: str, sftp) -> None:
    sftp.mkdir(f"{sftp_dir}/one")

    with pytest.raises(ConnectorError):
        sftp.mkdir(f"{sftp_dir}/missing/two")

    assert stat.S_ISDIR((sshd_server.home / sftp_dir / "one").stat().st_mode)
    assert not (sshd_server.home / sftp_dir / "missing").exists()


def test_mkdir_recursive_creates_parents_and_accepts_an_existing_directory(
    sshd_server: SshdServer, sftp_dir: str, sftp
) -> None:
    sftp.mkdir_recursive(f"{sftp_dir}/a/b/c")
    sftp.mkdir_recursive(f"{sftp_dir}/a/b/c")

    assert (sshd_server.home / sftp_dir / "a" / "b" / "c").is_dir()


def test_mkdir_recursive_through_a_file_names_the_file(sshd_server: SshdServer, sftp_dir: str, sftp) -> None:
    sshd_server.put(f"{sftp_dir}/plain", b"x")

    with pytest.raises(ConnectorError, match=r"plain exists and is not a directory"):
        sftp.mkdir_recursive(f"{sftp_dir}/plain/sub")


def test_delete_recursive_removes_a_tree_but_not_what_a_link_points_to(
    sshd_server: SshdServer, sftp_dir: str, sftp
) -> None:
    keep = sshd_server.put(f"{sftp_dir}/keep/precious.txt", b"keep me")
    sshd_server.put(f"{sftp_dir}/tree/x/y/z.txt", b"1")
    sshd_server.put(f"{sftp_dir}/tree/{HOSTILE}", b"2")
    os.symlink(keep.parent, sshd_server.home / sftp_dir / "tree" / "link")

    sftp.delete_recursive(f"{sftp_dir}/tree")

    assert not (sshd_server.home / sftp_dir / "tree").exists()
    assert keep.read_bytes() == b"keep me"


def test_delete_recursive_of_a_file_removes_just_that_file(sshd_server: SshdServer, sftp_dir: str, sftp) -> None:
    sshd_server.put(f"{sftp_dir}/f.txt", b"x")

    sftp.delete_recursive(f"{sftp_dir}/f.txt")

    assert os.listdir(sshd_server.home / sftp_dir) == []


def test_delete_recursive_refuses_the_root(sftp) -> None:
    with pytest.raises(ConnectorError, match="refusing to delete a root directory"):
        sftp.delete_recursive("/")


def test_download_and_upload_accept_string_paths_as_upstream_plugins_pass_them(
    sshd_server: SshdServer, sftp_dir: str, sftp, tmp_path
) -> None:
    sshd_server.put(f"{sftp_dir}/in.bin", b"payload")

    sftp.download(f"{sftp_dir}/in.bin", str(tmp_path / "local.bin"))
    sftp.upload(str(tmp_path / "local.bin"), f"{sftp_dir}/out.bin")

    assert (sshd_server.home / sftp_dir / "out.bin").read_bytes() == b"payload"
