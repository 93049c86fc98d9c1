"""Where the child's output goes: ``log.stdout`` / ``log.stderr`` modes (spec steps.md §3, execution step 3)."""

from __future__ import annotations

import pytest

from tests.unit.steps_process.helpers import ProcessHarness, py

# 5 MB of numbered 100-byte lines, written as fast as Python can, then an immediate exit.
BIG_OUTPUT = (
    "import sys\n"
    "out = sys.stdout.buffer\n"
    "for i in range(50_000):\n"
    "    out.write(b'line %07d ' % i + b'x' * 86 + b'\\n')\n"
)


def big_expected() -> bytes:
    return b"".join(b"line %07d " % i + b"x" * 86 + b"\n" for i in range(50_000))


def test_capture_keeps_exactly_the_first_max_capture_kb_and_logs_every_line(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py(BIG_OUTPUT), log={"stdout": "capture", "max_capture_kb": 64})
    expected = big_expected()
    assert len(expected) == 5_000_000
    assert result.output["stdout"] == expected[: 64 * 1024].decode()
    lines = proc_step.events.named("external_process_stdout")
    assert len(lines) == 50_000
    assert lines[-1]["message"] == expected.splitlines()[-1].decode()
    assert {line["level"] for line in lines} == {"INFO"}


def test_capture_is_complete_when_the_child_exits_right_after_writing(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py(BIG_OUTPUT), log={"stdout": "capture", "max_capture_kb": 8192})
    assert result.output["stdout"] == big_expected().decode()


def test_both_streams_are_captured_separately_when_interleaved(proc_step: ProcessHarness) -> None:
    code = (
        "import sys\n"
        "for i in range(2000):\n"
        "    stream = sys.stdout if i % 2 else sys.stderr\n"
        "    stream.write(f'{stream.name} {i}\\n'); stream.flush()\n"
    )
    result = proc_step.run(command=py(code), log={"stdout": "capture", "stderr": "capture"})
    assert result.output["stdout"].splitlines() == [f"<stdout> {i}" for i in range(1, 2000, 2)]
    assert result.output["stderr"].splitlines() == [f"<stderr> {i}" for i in range(0, 2000, 2)]
    err_events = proc_step.events.named("external_process_stderr")
    assert [e["message"] for e in err_events] == [f"<stderr> {i}" for i in range(0, 2000, 2)]
    assert {e["level"] for e in err_events} == {"WARNING"}


def test_a_last_line_without_newline_and_blank_lines_are_logged(proc_step: ProcessHarness) -> None:
    proc_step.run(command=py("import sys; sys.stdout.write('a\\n\\nb')"), log={"stdout": "capture"})
    assert [e["message"] for e in proc_step.events.named("external_process_stdout")] == ["a", "", "b"]


def test_captured_bytes_are_decoded_as_utf8_with_replacement(proc_step: ProcessHarness) -> None:
    code = "import sys; sys.stdout.buffer.write('é'.encode() + b'\\xff\\n')"
    result = proc_step.run(command=py(code), log={"stdout": "capture"})
    assert result.output["stdout"] == "é\ufffd\n"


def test_capture_with_a_zero_limit_keeps_nothing_but_still_logs(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py("print('x')"), log={"stdout": "capture", "max_capture_kb": "0"})
    assert result.output["stdout"] == ""
    assert [e["message"] for e in proc_step.events.named("external_process_stdout")] == ["x"]


def test_file_mode_appends_every_attempt_to_one_shared_file(proc_step: ProcessHarness) -> None:
    counter = proc_step.artifacts / "n"
    log_file = proc_step.artifacts / "logs" / "child.log"
    log_file.parent.mkdir()
    log_file.write_text("from before\n")
    code = (
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1]); n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n))\n"
        "print(f'out {n}', flush=True); print(f'err {n}', file=sys.stderr, flush=True)\n"
        "sys.exit(0 if n == 3 else 3)\n"
    )
    result = proc_step.run(
        command=py(code, str(counter)),
        log={"stdout": "file", "stderr": "file", "file_path": "logs/child.log"},
        retry={"max_attempts": 3, "retry_on_exit_codes": [3]},
    )
    assert log_file.read_text() == "from before\n" + "".join(f"out {n}\nerr {n}\n" for n in (1, 2, 3))
    assert result.output == {"exit_code": 0, "attempts": 3, "log_file": str(log_file)}


def test_file_mode_for_one_stream_and_capture_for_the_other(proc_step: ProcessHarness) -> None:
    code = "import sys; print('to file'); print('to capture', file=sys.stderr)"
    result = proc_step.run(command=py(code), log={"stdout": "file", "stderr": "capture", "file_path": "out.log"})
    assert (proc_step.artifacts / "out.log").read_text() == "to file\n"
    assert result.output["stderr"] == "to capture\n"
    assert "stdout" not in result.output


def test_discard_drops_the_output_and_reports_no_text(
    proc_step: ProcessHarness, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import sys; print('gone'); print('gone too', file=sys.stderr)"
    result = proc_step.run(command=py(code), log={"stdout": "discard", "stderr": "discard"})
    assert result.output == {"exit_code": 0, "attempts": 1}
    captured = capfd.readouterr()
    assert "gone" not in captured.out + captured.err


def test_inherit_logs_each_line_as_an_event_and_writes_nothing_to_the_runners_streams(
    proc_step: ProcessHarness, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import sys; print('child out'); print('child err', file=sys.stderr)"
    result = proc_step.run(command=py(code))
    captured = capfd.readouterr()
    assert "child" not in captured.out + captured.err
    assert result.output == {"exit_code": 0, "attempts": 1}  # the lines are not kept in the outputs
    assert [(e["level"], e["message"]) for e in proc_step.events.named("external_process_stdout")] == [
        ("INFO", "child out")
    ]
    assert [(e["level"], e["message"]) for e in proc_step.events.named("external_process_stderr")] == [
        ("WARNING", "child err")
    ]


def test_inherit_masks_a_known_secret_in_the_childs_lines(proc_step: ProcessHarness) -> None:
    proc_step.redactor.add("s3cr3t-value")
    code = "import sys; print('token=s3cr3t-value'); print('again s3cr3t-value!', file=sys.stderr)"
    proc_step.run(command=py(code))
    lines = proc_step.events.named("external_process_stdout") + proc_step.events.named("external_process_stderr")
    assert [e["message"] for e in lines] == ["token=***", "again ***!"]


def test_a_failure_in_inherit_mode_carries_no_stderr_text(proc_step: ProcessHarness) -> None:
    code = "import sys; print('why', file=sys.stderr); sys.exit(5)"
    with pytest.raises(RuntimeError) as info:
        proc_step.run(command=py(code))
    assert str(info.value) == f"external.process failed with exit code 5\n{py(code)}"
    assert [e["message"] for e in proc_step.events.named("external_process_stderr")] == ["why"]


def test_passthrough_hands_the_child_the_runners_own_stdout_and_stderr(
    proc_step: ProcessHarness, capfd: pytest.CaptureFixture[str]
) -> None:
    code = "import sys; print('child out'); print('child err', file=sys.stderr)"
    result = proc_step.run(command=py(code), log={"stdout": "passthrough", "stderr": "Passthrough"})
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("child out\n", "child err\n")
    assert result.output == {"exit_code": 0, "attempts": 1}
    assert proc_step.events.named("external_process_stdout") == []


def test_a_line_longer_than_the_limit_is_logged_in_pieces_that_never_split_a_character(
    proc_step: ProcessHarness,
) -> None:
    # 'é' is two bytes; an odd prefix puts a character across every 64 KiB boundary.
    code = "import sys; sys.stdout.write('x' + 'é' * 100_000 + '\\nend\\n')"
    result = proc_step.run(command=py(code), log={"stdout": "capture", "max_capture_kb": 1024})
    messages = [e["message"] for e in proc_step.events.named("external_process_stdout")]
    assert len(messages) == 5  # 200001 bytes in four pieces, then 'end'
    assert all(len(m.encode()) <= 64 * 1024 for m in messages)
    assert "".join(messages[:-1]) == "x" + "é" * 100_000
    assert "\ufffd" not in "".join(messages)
    assert messages[-1] == "end"
    assert result.output["stdout"] == "x" + "é" * 100_000 + "\nend\n"


def test_binary_output_with_nul_bytes_and_invalid_utf8_is_logged_as_replaced_text(proc_step: ProcessHarness) -> None:
    code = "import sys; sys.stdout.buffer.write(b'a\\x00b\\xff\\xfe\\x1b[31mc\\r\\n\\x80')"
    proc_step.run(command=py(code))
    messages = [e["message"] for e in proc_step.events.named("external_process_stdout")]
    assert messages == ["a\x00b\ufffd\ufffd\x1b[31mc", "\ufffd"]
