"""The state-volume check: filesystem detection from mountinfo, journal-mode choice, writability (spec §2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aetherflow.errors import ExitCode, StateInputError
from aetherflow.state.volume import (
    NETWORK_FILESYSTEMS,
    check_writable,
    choose_journal_mode,
    detect_filesystem,
    is_network_filesystem,
    parse_mountinfo,
)

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
60 27 0:50 / /var/lib/aetherflow rw,relatime shared:5 - nfs4 10.0.0.5:/exports/af rw,vers=4.2
61 60 0:51 / /var/lib/aetherflow/state rw,relatime shared:6 master:2 - xfs /dev/sdb1 rw
62 27 0:52 / /mnt/s3 rw,nosuid,nodev - fuse.s3fs s3fs rw,user_id=0
63 27 0:53 / /mnt/My\\040Data rw,relatime - cifs //srv/share\\040one rw
64 27 0:54 / /mnt/My rw,relatime - ext4 /dev/sdc1 rw
"""


def write_mountinfo(tmp_path: Path, text: str = MOUNTINFO) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(text, encoding="utf-8")
    return path


def test_mountinfo_parsing_reads_mount_point_type_and_source_after_optional_fields() -> None:
    entries = parse_mountinfo(MOUNTINFO)

    state = next(e for e in entries if e.mount_point == "/var/lib/aetherflow/state")
    assert (state.fstype, state.source) == ("xfs", "/dev/sdb1")


def test_mountinfo_octal_escapes_in_mount_points_are_decoded() -> None:
    entries = parse_mountinfo(MOUNTINFO)

    cifs = next(e for e in entries if e.fstype == "cifs")
    assert cifs.mount_point == "/mnt/My Data"
    assert cifs.source == "//srv/share one"


def test_malformed_mountinfo_lines_are_skipped() -> None:
    entries = parse_mountinfo("garbage\n1 2 3\n" + MOUNTINFO)

    assert len(entries) == 7


def test_longest_matching_mount_point_decides_the_filesystem(tmp_path: Path) -> None:
    mountinfo = write_mountinfo(tmp_path)

    assert detect_filesystem(Path("/var/lib/aetherflow/state/flow.db"), mountinfo=mountinfo) == ("xfs", False)
    assert detect_filesystem(Path("/var/lib/aetherflow/other/flow.db"), mountinfo=mountinfo) == ("nfs4", True)
    assert detect_filesystem(Path("/var/lib/elsewhere.db"), mountinfo=mountinfo) == ("ext4", False)


def test_a_mount_point_matches_whole_path_components_only(tmp_path: Path) -> None:
    mountinfo = write_mountinfo(tmp_path)

    # "/var/lib/aetherflowX" must not match the mount at "/var/lib/aetherflow"
    assert detect_filesystem(Path("/var/lib/aetherflowX/state.db"), mountinfo=mountinfo) == ("ext4", False)


def test_mount_point_with_an_escaped_space_matches_a_path_with_a_space(tmp_path: Path) -> None:
    mountinfo = write_mountinfo(tmp_path)

    assert detect_filesystem(Path("/mnt/My Data/state/af.db"), mountinfo=mountinfo) == ("cifs", True)
    assert detect_filesystem(Path("/mnt/My/af.db"), mountinfo=mountinfo) == ("ext4", False)


def test_fuse_subtypes_are_network_filesystems(tmp_path: Path) -> None:
    mountinfo = write_mountinfo(tmp_path)

    assert detect_filesystem(Path("/mnt/s3/state.db"), mountinfo=mountinfo) == ("fuse.s3fs", True)


def test_the_last_of_two_mounts_on_the_same_point_is_the_one_on_top(tmp_path: Path) -> None:
    text = MOUNTINFO + "70 27 0:60 / /mnt/s3 rw - ext4 /dev/sdd1 rw\n"
    mountinfo = write_mountinfo(tmp_path, text)

    assert detect_filesystem(Path("/mnt/s3/state.db"), mountinfo=mountinfo) == ("ext4", False)


SPEC_NETWORK_TYPES = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "cephfs",
    "glusterfs",
    "lustre",
    "9p",
    "afs",
    "gpfs",
    "beegfs",
]


@pytest.mark.parametrize("fstype", [*SPEC_NETWORK_TYPES, "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs"])
def test_every_network_type_of_the_spec_is_network(fstype: str) -> None:
    assert is_network_filesystem(fstype)


@pytest.mark.parametrize("fstype", ["ext4", "xfs", "btrfs", "overlay", "tmpfs", "zfs", "fuse", "nfsd"])
def test_local_types_are_not_network(fstype: str) -> None:
    assert not is_network_filesystem(fstype)


def test_without_mountinfo_statfs_names_the_same_filesystem_as_mountinfo(tmp_path: Path) -> None:
    from_mountinfo = detect_filesystem(tmp_path)
    if from_mountinfo[0] not in {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs"}:
        pytest.skip(f"statfs magic table does not name {from_mountinfo[0]}")

    from_statfs = detect_filesystem(tmp_path, mountinfo=tmp_path / "no-such-mountinfo")

    assert from_statfs == from_mountinfo


def test_a_path_that_does_not_exist_yet_is_judged_by_the_mount_that_will_hold_it(tmp_path: Path) -> None:
    mountinfo = write_mountinfo(tmp_path, f"1 0 0:1 / / rw - ext4 /dev/a rw\n2 1 0:2 / {tmp_path} rw - nfs srv:/x rw\n")

    assert detect_filesystem(tmp_path / "not" / "yet" / "state.db", mountinfo=mountinfo) == ("nfs", True)


def test_symlinks_are_resolved_before_matching_mount_points(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    mountinfo = write_mountinfo(tmp_path, f"1 0 0:1 / / rw - ext4 /dev/a rw\n2 1 0:2 / {real} rw - ceph mon:/ rw\n")

    assert detect_filesystem(tmp_path / "link" / "state.db", mountinfo=mountinfo) == ("ceph", True)


def test_auto_uses_wal_on_a_local_filesystem_without_warning() -> None:
    assert choose_journal_mode("ext4", False, "auto", False, "/s/f.db") == ("wal", False)


def test_auto_uses_delete_with_a_warning_on_a_network_filesystem() -> None:
    assert choose_journal_mode("nfs4", True, "auto", False, "/s/f.db") == ("delete", True)


def test_forced_wal_on_a_network_filesystem_is_kept_and_still_warns() -> None:
    assert choose_journal_mode("fuse.sshfs", True, "wal", False, "/s/f.db") == ("wal", True)


def test_forced_delete_on_a_local_filesystem_is_kept_quietly() -> None:
    assert choose_journal_mode("ext4", False, "delete", False, "/s/f.db") == ("delete", False)


def test_strict_mode_refuses_a_network_filesystem_with_exit_2() -> None:
    with pytest.raises(StateInputError) as caught:
        choose_journal_mode("nfs4", True, "auto", True, "/state/f.db")

    assert str(caught.value) == (
        "State path /state/f.db is on a network filesystem (nfs4); refusing to use SQLite there "
        "(AETHERFLOW_STATE_STRICT_FS=true)"
    )
    assert caught.value.exit_code == ExitCode.INVALID


def test_strict_mode_accepts_a_local_filesystem() -> None:
    assert choose_journal_mode("xfs", False, "auto", True, "/s/f.db") == ("wal", False)


def test_an_unknown_requested_journal_mode_is_an_input_error() -> None:
    with pytest.raises(StateInputError, match="AETHERFLOW_STATE_JOURNAL_MODE"):
        choose_journal_mode("ext4", False, "truncate", False, "/s/f.db")


def test_check_writable_creates_missing_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state"

    check_writable(target)

    assert target.is_dir()
    assert list(target.iterdir()) == []  # the probe file is gone


def test_check_writable_refuses_a_directory_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    with pytest.raises(StateInputError) as caught:
        check_writable(blocker / "state")

    assert str(caught.value) == f"State directory not writable: {blocker / 'state'}"
    assert caught.value.exit_code == ExitCode.INVALID


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_check_writable_refuses_a_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)

    with pytest.raises(StateInputError, match="State directory not writable"):
        check_writable(locked)


def test_the_network_list_is_exactly_the_spec_list() -> None:
    assert set(SPEC_NETWORK_TYPES) == NETWORK_FILESYSTEMS
