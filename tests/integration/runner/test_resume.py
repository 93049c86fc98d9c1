"""Resume with the same run id, --flow-job chaining, retries and timeouts, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import make_flow


def counting_step(step_id: str, counter: Path, extra: str = "") -> str:
    """An external.process step that appends its id to ``counter`` (one line per execution)."""
    return (
        f'{{id: {step_id}, type: external.process, inputs: {{command: ["/bin/sh", "-c", '
        f'"echo {step_id} >> {counter}{extra}"]}}}}'
    )


def test_rerunning_a_failed_run_skips_successful_steps_and_restores_their_outputs(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    gate = tmp_path / "gate"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: resume}}
        jobs:
          - id: a
            steps:
              - {{id: first, type: check_items, inputs: {{items: "x,y"}}, outputs: {{n: "{{{{result.count}}}}"}}}}
              - {counting_step("second", counter)}
              - {{id: third, type: external.process, inputs: {{command: ["/bin/sh", "-c", "test -f {gate}"]}}}}
          - id: b
            depends_on: [a]
            steps: [{{id: s, type: check_items, inputs: {{items: "n={{{{jobs.a.outputs.n}}}}"}}}}]
    """,
    )

    first = flow.run()
    gate.touch()
    second = flow.run()
    shown = flow.show()

    assert first.code == 1
    assert second.code == 0, second.stderr
    assert counter.read_text().split() == ["second"]
    assert [e["step_id"] for e in second.event("step_restored")] == ["first", "second"]
    assert shown["jobs"]["a"]["outputs"] == {"n": 2}
    assert shown["jobs"]["a"]["steps"]["third"]["attempts"] == 2
    assert second.event("run_start")[0]["attempt"] == 2


def test_rerunning_a_complete_successful_run_does_nothing_and_exits_0(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: done}}
        jobs:
          - {{id: a, steps: [{counting_step("s", counter)}]}}
    """,
    )

    flow.run()
    again = flow.run()

    assert again.code == 0
    assert again.event("run_already_complete")
    assert not again.event("run_start")
    assert counter.read_text().split() == ["s"]
    assert flow.query("SELECT attempt, status FROM runs") == [(1, "SUCCESS")]


def test_a_new_run_id_starts_from_scratch(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: fresh}}
        jobs:
          - {{id: a, steps: [{counting_step("s", counter)}]}}
    """,
    )

    flow.run(run_id="r1")
    flow.run(run_id="r2")

    assert counter.read_text().split() == ["s", "s"]


def test_generated_run_ids_are_sortable_and_distinct(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, "version: 1\nflow: {id: gen}\njobs: []\n")

    flow.run(run_id="")
    flow.run(run_id="")
    ids = [r[0] for r in flow.query("SELECT run_id FROM runs ORDER BY started_at")]

    assert len(set(ids)) == 2
    assert all(len(i) == 25 and i[8] == "T" and i[15] == "Z" and i[16] == "-" for i in ids)


def test_flow_job_invocations_chain_under_one_run_id_with_restored_outputs(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: chain}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "p,q,r"}, outputs: {n: "{{result.count}}"}}]}
          - id: b
            depends_on: [a]
            when: "jobs.a.outputs.n == 3"
            steps: [{id: s, type: check_items, inputs: {items: "n={{jobs.a.outputs.n}}"}}]
    """,
    )

    first = flow.run("--flow-job", "a")
    second = flow.run("--flow-job", "b")
    third = flow.run("--flow-job", "b")
    shown = flow.show()

    assert (first.code, second.code, third.code) == (0, 0, 0)
    assert shown["jobs"]["b"]["status"] == "SUCCESS"
    assert third.event("run_already_complete")


def test_flow_job_with_an_unsatisfied_dependency_is_blocked_and_fails(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: chain2}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - {id: b, depends_on: [a], steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
    """,
    )

    result = flow.run("--flow-job", "b")

    assert result.code == 1
    assert flow.show()["jobs"] == {
        "b": {"status": "BLOCKED", "error": "blocked by: a (NOT_RUN)", "outputs": {}, "steps": {}}
    }


def test_unknown_flow_job_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, "version: 1\nflow: {id: fj}\njobs: []\n")

    result = flow.run("--flow-job", "nope")

    assert result.code == 2
    assert "Unknown job for --flow-job: nope" in result.stderr


def test_step_retry_runs_again_until_success_and_counts_attempts(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    script = f"echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: retry}}
        jobs:
          - id: a
            steps:
              - id: flaky
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "{script}"]}}
                retry: {{max_attempts: 4, backoff_seconds: 0.05}}
    """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert flow.show()["jobs"]["a"]["steps"]["flaky"]["attempts"] == 3
    assert [e["attempt"] for e in result.event("step_retry")] == [2, 3]
    assert flow.query("SELECT attempt, status FROM step_attempts ORDER BY attempt") == [
        (1, "FAILED"),
        (2, "FAILED"),
        (3, "SUCCESS"),
    ]


def test_retry_on_exit_codes_does_not_retry_other_codes(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: retrycodes}
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {command: ["/bin/sh", "-c", "exit 4"]}
                retry: {max_attempts: 3, retry_on: {exit_codes: [5]}}
    """,
    )

    result = flow.run()

    assert result.code == 1
    assert flow.show()["jobs"]["a"]["steps"]["s"]["attempts"] == 1


def test_step_timeout_fails_the_attempt_with_timeout_error(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: slow}
        jobs:
          - id: a
            steps:
              - {id: s, type: external.process, inputs: {command: ["/bin/sleep", "30"]}, timeout_seconds: 0.5}
    """,
    )

    result = flow.run()

    assert result.code == 1
    assert flow.show()["jobs"]["a"]["steps"]["s"]["error"] == "TimeoutError: step timed out after 0.5s"


def test_runs_list_shows_runs_newest_first(tmp_path: Path) -> None:
    from tests.support.cli import aetherflow

    flow = make_flow(tmp_path, "version: 1\nflow: {id: lst}\njobs: []\n")
    flow.run(run_id="r1")
    flow.run(run_id="r2")

    listed = aetherflow("runs", "list", "--state", str(flow.state), "--json")
    text = aetherflow("runs", "list", "--state", str(flow.state))

    assert [r["run_id"] for r in json.loads(listed.stdout)] == ["r2", "r1"]
    assert text.stdout.splitlines()[0].split() == [
        "RUN_ID",
        "FLOW_ID",
        "STATUS",
        "ATTEMPT",
        "STARTED_AT",
        "ENDED_AT",
        "EXIT",
    ]
    assert not any(line.endswith(" ") for line in text.stdout.splitlines())


def test_runs_show_of_an_unknown_run_exits_1(tmp_path: Path) -> None:
    from tests.support.cli import aetherflow

    flow = make_flow(tmp_path, "version: 1\nflow: {id: unk}\njobs: []\n")
    flow.run()

    result = aetherflow("runs", "show", "nope", "--state", str(flow.state))

    assert result.code == 1
    assert result.stderr.strip() == "error: Run not found: nope"


def test_query_commands_never_create_the_database(tmp_path: Path) -> None:
    from tests.support.cli import aetherflow

    result = aetherflow("runs", "list", "--state", str(tmp_path / "missing.db"))

    assert result.code == 1
    assert "State database not found" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_state_prune_deletes_old_finished_runs(tmp_path: Path) -> None:
    from tests.support.cli import aetherflow

    flow = make_flow(tmp_path, "version: 1\nflow: {id: prune}\njobs: [{id: a, steps: []}]\n")
    flow.run()

    dry = aetherflow("state", "prune", "--older-than", "0", "--state", str(flow.state), "--dry-run")
    real = aetherflow("state", "prune", "--older-than", "0", "--state", str(flow.state), "--json")

    assert dry.stdout.strip() == (
        "Would prune 1 runs older than 0 days (1 job rows, 0 step rows, 0 expired locks, 0 workspaces;"
        " 0 workspaces_unreachable: not on this machine)"
    )  # a job without steps never asked for a directory, so none was made or recorded
    assert json.loads(real.stdout) == {
        "runs": 1,
        "jobs": 1,
        "steps": 0,
        "locks": 0,
        "workspaces_removed": 0,
        "workspaces_unreachable": 0,
        "dry_run": False,
    }
    assert flow.query("SELECT COUNT(*) FROM runs") == [(0,)]
