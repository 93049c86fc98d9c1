"""Command forms of ``external.process`` (spec steps.md §3): argv lists, program paths, and ``/bin/sh -c``."""

from __future__ import annotations

import json

import pytest

from aetherflow.steps.process import build_argv
from tests.unit.steps_process.helpers import PY, ProcessHarness, py

PRINT_ARGS = "import json, sys; print(json.dumps(sys.argv[1:]))"


def test_a_list_runs_without_a_shell_and_appends_args_as_text(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py(PRINT_ARGS, "$HOME", "a b"), args=[1, "*", 2.5], log={"stdout": "capture"})
    assert json.loads(result.output["stdout"]) == ["$HOME", "a b", "1", "*", "2.5"]


def test_a_string_without_shell_is_one_program_path_never_split(proc_step: ProcessHarness) -> None:
    with pytest.raises(FileNotFoundError, match="echo hi"):
        proc_step.run(command="echo hi")
    assert [f["command"] for f in proc_step.events.named("external_process_start")] == [["echo hi"]]


def test_a_string_program_path_gets_the_args(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=PY, args=["-c", "print('ran')"], log={"stdout": "capture"})
    assert result.output["stdout"] == "ran\n"


def test_a_string_with_shell_runs_unmodified_under_bin_sh(proc_step: ProcessHarness) -> None:
    command = "printf '%s|' \"$GREETING\" $((1 + 2))"
    result = proc_step.run(command=command, shell=True, env={"GREETING": "hello world"}, log={"stdout": "capture"})
    assert result.output["stdout"] == "hello world|3|"
    assert proc_step.events.named("external_process_start")[0]["command"] == ["/bin/sh", "-c", command]


def test_args_of_a_shell_string_are_appended_as_quoted_words(proc_step: ProcessHarness) -> None:
    result = proc_step.run(
        command="printf '%s|'", args=["a b", "$HOME", "x;y"], shell="true", log={"stdout": "capture"}
    )
    assert result.output["stdout"] == "a b|$HOME|x;y|"


def test_a_list_with_shell_is_quoted_and_joined(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=["printf", "%s|", "a b"], args=["$HOME"], shell=True, log={"stdout": "capture"})
    assert result.output["stdout"] == "a b|$HOME|"
    assert proc_step.events.named("external_process_start")[0]["command"] == [
        "/bin/sh",
        "-c",
        "printf '%s|' 'a b' '$HOME'",
    ]


@pytest.mark.parametrize(
    ("command", "args", "shell", "argv"),
    [
        (["prog", "a"], ["b"], False, ["prog", "a", "b"]),
        ("prog --flag", ["x y"], False, ["prog --flag", "x y"]),
        ("echo $A && ls", [], True, ["/bin/sh", "-c", "echo $A && ls"]),
        ("echo", ["it's"], True, ["/bin/sh", "-c", "echo 'it'\"'\"'s'"]),
        (["echo", "a b"], ["$X"], True, ["/bin/sh", "-c", "echo 'a b' '$X'"]),
    ],
)
def test_build_argv_follows_the_spec_forms(
    command: str | list[str], args: list[str], shell: bool, argv: list[str]
) -> None:
    assert build_argv(command, args, shell=shell) == argv


def test_the_child_gets_an_empty_stdin(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py("import sys; print(repr(sys.stdin.read()))"), log={"stdout": "capture"})
    assert result.output["stdout"] == "''\n"


def test_the_start_event_carries_the_attempt_and_the_step_ids(proc_step: ProcessHarness) -> None:
    proc_step.run(command=py("pass"))
    (start,) = proc_step.events.named("external_process_start")
    assert start == {
        "level": "INFO",
        "job_id": "j1",
        "step_id": "s1",
        "step_type": "external.process",
        "attempt": 1,
        "command": py("pass"),
    }
