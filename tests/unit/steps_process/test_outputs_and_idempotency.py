"""Success checks, ``marker`` and ``atomic_dir`` idempotency, and the step output (spec steps.md §3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aetherflow.api import Status
from aetherflow.steps.process_publish import _exchange, _replace_by_two_renames
from tests.unit.steps_process.helpers import ProcessHarness, py

TOUCH = "import pathlib, sys; [pathlib.Path(p).write_text('x') for p in sys.argv[1:]]"
# Writes the files named in argv into $AETHERFLOW_OUTPUT_DIR; exits 3 when the first argv item is "fail".
WRITE_OUTPUT = (
    "import os, pathlib, sys\n"
    "out = pathlib.Path(os.environ['AETHERFLOW_OUTPUT_DIR'])\n"
    "for name in sys.argv[1:]: (out / name).write_text(name)\n"
    "sys.exit(3 if sys.argv[1:2] == ['fail'] else 0)\n"
)


def test_all_success_checks_passing_gives_success(proc_step: ProcessHarness) -> None:
    a = proc_step.artifacts
    result = proc_step.run(
        command=py(TOUCH, str(a / "out.csv"), str(a / "part-1.csv"), str(a / "_SUCCESS")),
        success={
            "require_files": ["out.csv"],
            "require_glob": ["part-*.csv"],
            "forbid_files": ["error.flag"],
            "marker_file": "_SUCCESS",
        },
    )
    assert result.status == Status.SUCCESS


@pytest.mark.parametrize(
    ("success", "reason"),
    [
        ({"require_files": ["out.csv"]}, "missing_required_file:out.csv"),
        ({"marker_file": "_SUCCESS"}, "missing_required_file:_SUCCESS"),
        ({"require_glob": ["parts/*.csv"]}, "missing_required_glob:parts/*.csv"),
        ({"forbid_files": ["present.txt"]}, "forbidden_file_present:present.txt"),
    ],
)
def test_a_failed_success_check_is_a_permanent_failure_with_its_reason(
    proc_step: ProcessHarness, success: dict[str, object], reason: str
) -> None:
    (proc_step.artifacts / "present.txt").write_text("x")
    with pytest.raises(RuntimeError) as info:
        proc_step.run(command=py("pass"), success=success, retry={"max_attempts": 3, "retry_on_exit_codes": [0]})
    assert str(info.value) == f"external.process outputs invalid: {reason}"
    assert getattr(info.value, "permanent", False) is True
    assert len(proc_step.events.named("external_process_start")) == 1
    assert proc_step.events.named("external_process_success") == []


def test_success_checks_run_in_order_required_files_first(proc_step: ProcessHarness) -> None:
    (proc_step.artifacts / "present.txt").write_text("x")
    success = {"forbid_files": ["present.txt"], "require_glob": ["*.none"], "require_files": ["missing"]}
    with pytest.raises(RuntimeError, match=r"missing_required_file:missing$"):
        proc_step.run(command=py("pass"), success=success)


def test_an_existing_marker_with_passing_checks_skips_without_starting_the_process(proc_step: ProcessHarness) -> None:
    (proc_step.artifacts / "done.marker").write_text("")
    result = proc_step.run(
        command=py("raise SystemExit(1)"), idempotency={"strategy": "marker", "marker_path": "done.marker"}
    )
    assert result.status == Status.SKIPPED
    assert result.reason == "marker_present"
    assert result.output == {
        "skipped": True,
        "marker": str(proc_step.artifacts / "done.marker"),
        "reason": "marker_present",
    }
    assert proc_step.events.named("external_process_start") == []


def test_the_marker_defaults_to_success_marker_file(proc_step: ProcessHarness) -> None:
    (proc_step.artifacts / "_SUCCESS").write_text("")
    result = proc_step.run(
        command=py("raise SystemExit(1)"), idempotency={"strategy": "marker"}, success={"marker_file": "_SUCCESS"}
    )
    assert result.status == Status.SKIPPED


def test_a_marker_whose_checks_fail_does_not_skip(proc_step: ProcessHarness) -> None:
    a = proc_step.artifacts
    (a / "done.marker").write_text("")
    result = proc_step.run(
        command=py(TOUCH, str(a / "out.csv")),
        idempotency={"strategy": "marker", "marker_path": "done.marker"},
        success={"require_files": ["out.csv"]},
    )
    assert result.status == Status.SUCCESS
    assert len(proc_step.events.named("external_process_start")) == 1


def test_a_missing_marker_runs_the_process(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py("pass"), idempotency={"strategy": "marker", "marker_path": "done.marker"})
    assert result.output == {"exit_code": 0, "attempts": 1}


def test_atomic_dir_replaces_the_final_dir_with_the_attempts_output(proc_step: ProcessHarness) -> None:
    final = proc_step.artifacts / "final"
    (final / "old").mkdir(parents=True)
    (final / "old" / "stale.txt").write_text("old")
    idempotency = {"strategy": "atomic_dir", "temp_output_dir": "tmp_out", "final_output_dir": "final"}
    result = proc_step.run(command=py(WRITE_OUTPUT, "new.txt"), idempotency=idempotency)
    assert result.status == Status.SUCCESS
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert not (proc_step.artifacts / "tmp_out").exists()
    assert sorted(p.name for p in proc_step.artifacts.iterdir()) == ["final"]  # no backup left behind


def test_atomic_dir_creates_the_final_dir_when_absent(proc_step: ProcessHarness) -> None:
    idempotency = {"strategy": "atomic_dir", "temp_output_dir": "t/tmp", "final_output_dir": "out/final"}
    proc_step.run(command=py(WRITE_OUTPUT, "a.txt"), idempotency=idempotency)
    assert (proc_step.artifacts / "out" / "final" / "a.txt").read_text() == "a.txt"


def test_atomic_dir_recreates_the_temp_dir_for_every_attempt(proc_step: ProcessHarness) -> None:
    temp = proc_step.artifacts / "tmp_out"
    temp.mkdir()
    (temp / "leftover.txt").write_text("from a crashed run")
    counter = proc_step.artifacts / "n"
    code = (
        "import os, pathlib, sys\n"
        f"c = pathlib.Path({str(counter)!r}); n = int(c.read_text()) + 1 if c.exists() else 1; c.write_text(str(n))\n"
        "out = pathlib.Path(os.environ['AETHERFLOW_OUTPUT_DIR'])\n"
        "(out / f'attempt{n}.txt').write_text('')\n"
        "sys.exit(0 if n == 2 else 3)\n"
    )
    idempotency = {"strategy": "atomic_dir", "temp_output_dir": "tmp_out", "final_output_dir": "final"}
    proc_step.run(command=py(code), idempotency=idempotency, retry={"max_attempts": 2, "retry_on_exit_codes": [3]})
    assert sorted(p.name for p in (proc_step.artifacts / "final").iterdir()) == ["attempt2.txt"]


def test_atomic_dir_without_atomic_rename_moves_entries_into_the_final_dir(proc_step: ProcessHarness) -> None:
    final = proc_step.artifacts / "final"
    final.mkdir()
    (final / "kept.txt").write_text("kept")
    (final / "same.txt").write_text("old")
    idempotency = {
        "strategy": "atomic_dir",
        "temp_output_dir": "tmp_out",
        "final_output_dir": "final",
        "atomic_rename": "false",
    }
    proc_step.run(command=py(WRITE_OUTPUT, "same.txt", "new.txt"), idempotency=idempotency)
    assert {p.name: p.read_text() for p in final.iterdir()} == {
        "kept.txt": "kept",
        "same.txt": "same.txt",
        "new.txt": "new.txt",
    }
    assert not (proc_step.artifacts / "tmp_out").exists()


def test_a_failed_attempt_leaves_the_final_dir_untouched(proc_step: ProcessHarness) -> None:
    final = proc_step.artifacts / "final"
    final.mkdir()
    (final / "good.txt").write_text("good")
    idempotency = {"strategy": "atomic_dir", "temp_output_dir": "tmp_out", "final_output_dir": "final"}
    with pytest.raises(RuntimeError, match="exit code 3"):
        proc_step.run(command=py(WRITE_OUTPUT, "fail"), idempotency=idempotency)
    assert [p.name for p in final.iterdir()] == ["good.txt"]


def test_success_checks_see_the_published_final_dir(proc_step: ProcessHarness) -> None:
    idempotency = {"strategy": "atomic_dir", "temp_output_dir": "tmp_out", "final_output_dir": "final"}
    result = proc_step.run(
        command=py(WRITE_OUTPUT, "data.csv"), idempotency=idempotency, success={"require_files": ["final/data.csv"]}
    )
    assert result.status == Status.SUCCESS


def test_outputs_are_copied_verbatim_into_the_step_output(proc_step: ProcessHarness) -> None:
    outputs = {"report": "r.csv", "n": 3, "nested": {"a": [1, 2]}}
    result = proc_step.run(command=py("pass"), outputs=outputs)
    assert result.output == {"exit_code": 0, "attempts": 1, **outputs}


def test_the_success_event_carries_attempt_and_exit_code(proc_step: ProcessHarness) -> None:
    proc_step.run(command=py("pass"))
    (event,) = proc_step.events.named("external_process_success")
    assert (event["level"], event["attempt"], event["exit_code"]) == ("INFO", 1, 0)


def test_an_absolute_path_inside_the_work_root_is_accepted(proc_step: ProcessHarness) -> None:
    target = proc_step.ctx.work_root / "shared.txt"
    result = proc_step.run(command=py(TOUCH, str(target)), success={"require_files": [os.fspath(target)]})
    assert result.status == Status.SUCCESS


def test_the_two_rename_fallback_replaces_a_non_empty_final_dir(tmp_path: Path) -> None:
    # Used where renameat2(RENAME_EXCHANGE) is unavailable (old kernels, some network filesystems).
    temp, final = tmp_path / "temp", tmp_path / "final"
    temp.mkdir()
    (temp / "new.txt").write_text("new")
    final.mkdir()
    (final / "old.txt").write_text("old")
    _replace_by_two_renames(temp, final)
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_rename_exchange_swaps_two_directories_when_the_filesystem_supports_it(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    (a / "from_a").write_text("")
    b.mkdir()
    (b / "from_b").write_text("")
    if not _exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here")
    assert ([p.name for p in a.iterdir()], [p.name for p in b.iterdir()]) == (["from_b"], ["from_a"])
