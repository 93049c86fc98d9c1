"""A workspace path read back from the state store is deleted only when it really is that job's directory here."""

from __future__ import annotations

from pathlib import Path

from aetherflow.workspace import recorded_workspace


def test_an_existing_directory_ending_in_flow_job_and_run_is_the_recorded_workspace(tmp_path: Path) -> None:
    root = tmp_path / "f" / "j" / "r"
    root.mkdir(parents=True)

    assert recorded_workspace(str(root), "f", "j", "r") == root


def test_a_path_that_does_not_end_in_the_jobs_keys_is_never_taken_for_its_workspace(tmp_path: Path) -> None:
    (tmp_path / "f" / "j" / "other").mkdir(parents=True)

    assert recorded_workspace(str(tmp_path), "f", "j", "r") is None
    assert recorded_workspace("/", "f", "j", "r") is None
    assert recorded_workspace(str(tmp_path / "f" / "j" / "other"), "f", "j", "r") is None


def test_a_relative_path_a_dotdot_path_or_a_symlink_is_never_a_workspace(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    link_parent = tmp_path / "f" / "j"
    link_parent.mkdir(parents=True)
    (link_parent / "r").symlink_to(target)
    (tmp_path / "x" / "f" / "j" / "r").mkdir(parents=True)

    assert recorded_workspace(str(link_parent / "r"), "f", "j", "r") is None
    assert recorded_workspace("f/j/r", "f", "j", "r") is None
    assert recorded_workspace(f"{tmp_path}/x/../x/f/j/r", "f", "j", "r") is None


def test_a_gone_directory_is_not_on_this_machine(tmp_path: Path) -> None:
    assert recorded_workspace(str(tmp_path / "f" / "j" / "r"), "f", "j", "r") is None
