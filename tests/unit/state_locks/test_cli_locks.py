"""``aetherflow locks list`` / ``locks release`` as a user runs them (spec cli.md §1, §9), on a prepared database."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.state_locks.support import REPO_ROOT, insert_lock, lock_rows, make_state_db

LIVE_UNTIL = 4102444800.5  # 2100-01-01T00:00:00.500Z
EXPIRED_AT = 1740794400.123  # 2025-03-01T02:00:00.123Z


def aetherflow(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")}
    base["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "aetherflow", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.fixture
def prepared_db(lock_db: Path) -> Path:
    insert_lock(
        lock_db,
        "flow:nightly",
        "nightly-28000001",
        LIVE_UNTIL,
        flow_id="nightly",
        pod_name="nightly-28000001-x7k2p",
        acquired_at=LIVE_UNTIL - 600,
        heartbeat_at=LIVE_UNTIL - 600,
        ttl_seconds=600,
    )
    insert_lock(lock_db, "job:f:a", "r1", EXPIRED_AT)
    return lock_db


def test_list_prints_aligned_columns_with_rfc3339_expiry_and_state(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "list", "--state", prepared_db, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "KEY           OWNER             EXPIRES_AT                STATE\n"
        "flow:nightly  nightly-28000001  2100-01-01T00:00:00.500Z  live\n"
        "job:f:a       r1                2025-03-01T02:00:00.123Z  expired\n"
    )


def test_list_of_an_empty_lock_table_prints_the_header_only(lock_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "list", "--state", lock_db, cwd=tmp_path)

    assert (done.returncode, done.stdout) == (0, "KEY  OWNER  EXPIRES_AT  STATE\n")


def test_list_json_is_one_line_with_the_documented_keys_in_order(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "list", "--state", prepared_db, "--json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert done.stdout.startswith('[{"key": "flow:nightly", "owner": "nightly-28000001", "flow_id": "nightly", ')
    assert json.loads(done.stdout) == [
        {
            "key": "flow:nightly",
            "owner": "nightly-28000001",
            "flow_id": "nightly",
            "pod_name": "nightly-28000001-x7k2p",
            "acquired_at": "2099-12-31T23:50:00.500Z",
            "heartbeat_at": "2099-12-31T23:50:00.500Z",
            "expires_at": "2100-01-01T00:00:00.500Z",
            "expired": False,
        },
        {
            "key": "job:f:a",
            "owner": "r1",
            "flow_id": None,
            "pod_name": None,
            "acquired_at": None,
            "heartbeat_at": None,
            "expires_at": "2025-03-01T02:00:00.123Z",
            "expired": True,
        },
    ]


def test_the_state_path_setting_is_used_without_a_flag(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "list", "--json", cwd=tmp_path, env={"AETHERFLOW_STATE_PATH": str(prepared_db)})

    assert done.returncode == 0, done.stderr
    assert [row["key"] for row in json.loads(done.stdout)] == ["flow:nightly", "job:f:a"]


def test_the_state_flag_wins_over_the_setting(prepared_db: Path, tmp_path: Path) -> None:
    other = make_state_db(tmp_path / "other.db")

    done = aetherflow(
        "locks", "list", "--json", "--state", other, cwd=tmp_path, env={"AETHERFLOW_STATE_PATH": str(prepared_db)}
    )

    assert (done.returncode, done.stdout) == (0, "[]\n")


def test_a_database_file_named_outright_ignores_an_unrelated_flow_file_in_the_directory(
    prepared_db: Path, tmp_path: Path
) -> None:
    (tmp_path / "flow.yaml").write_text("version: 2\n", encoding="utf-8")

    done = aetherflow("locks", "list", "--json", cwd=tmp_path, env={"AETHERFLOW_STATE_PATH": str(prepared_db)})

    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2


@pytest.mark.parametrize("suffix", ["", "/"])
def test_a_directory_state_path_names_the_flows_database_file(tmp_path: Path, suffix: str) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    insert_lock(make_state_db(state_dir / "nightly.db"), "flow:nightly", "r1", LIVE_UNTIL)

    done = aetherflow("locks", "list", "--state", f"{state_dir}{suffix}", "--flow-id", "nightly", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "flow:nightly  r1" in done.stdout


def test_a_directory_state_path_without_a_flow_id_is_an_input_error(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()

    done = aetherflow("locks", "list", "--state", state_dir, cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == f"error: State path {state_dir} is a directory; pass --flow-id"


def test_a_missing_database_is_not_found_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "state.db"

    done = aetherflow("locks", "list", "--state", missing, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.strip() == f"error: State database not found: {missing}"
    assert not missing.parent.exists()


def test_without_any_state_path_or_flow_file_the_command_says_what_to_pass(tmp_path: Path) -> None:
    done = aetherflow("locks", "list", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.startswith("error: No state database")
    assert "--state" in done.stderr


def test_release_by_the_owner_deletes_the_row_and_says_so(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow(
        "locks", "release", "flow:nightly", "--state", prepared_db, "--owner", "nightly-28000001", cwd=tmp_path
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "Released flow:nightly (owner nightly-28000001)\n", "")
    assert sorted(lock_rows(prepared_db)) == ["job:f:a"]


def test_release_of_an_unknown_key_fails_with_not_found(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "release", "job:f:zzz", "--state", prepared_db, "--owner", "r1", cwd=tmp_path)

    assert (done.returncode, done.stdout, done.stderr) == (1, "", "error: Lock not found: job:f:zzz\n")


def test_force_release_deletes_any_owners_row_with_a_warning_log_line(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "release", "flow:nightly", "--state", prepared_db, "--force", cwd=tmp_path)

    assert done.returncode == 0
    assert done.stdout == "Released flow:nightly (owner nightly-28000001)\n"
    when, level, rest = done.stderr.strip().split(" ", 2)
    assert (level, rest) == ("WARNING", "lock_force_released key=flow:nightly previous_owner=nightly-28000001")
    assert when.endswith("Z") and len(when) == len("2025-03-01T02:00:00.123Z")
    assert "flow:nightly" not in lock_rows(prepared_db)


def test_force_release_logs_json_when_the_log_format_is_json(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow(
        "locks", "release", "job:f:a", "--state", prepared_db, "--force", cwd=tmp_path,
        env={"AETHERFLOW_LOG_FORMAT": "json"},
    )  # fmt: skip

    record = json.loads(done.stderr)
    assert done.returncode == 0
    assert list(record) == ["ts_ms", "event", "level", "key", "previous_owner"]
    assert (record["event"], record["level"], record["key"], record["previous_owner"]) == (
        "lock_force_released",
        "WARNING",
        "job:f:a",
        "r1",
    )


def test_release_needs_exactly_one_of_owner_or_force(prepared_db: Path, tmp_path: Path) -> None:
    neither = aetherflow("locks", "release", "job:f:a", "--state", prepared_db, cwd=tmp_path)
    both = aetherflow("locks", "release", "job:f:a", "--state", prepared_db, "--owner", "r1", "--force", cwd=tmp_path)

    assert neither.returncode == 2 and neither.stderr.startswith("usage:")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert "job:f:a" in lock_rows(prepared_db)


def test_flow_yaml_and_state_are_alternatives(prepared_db: Path, tmp_path: Path) -> None:
    done = aetherflow("locks", "list", "--state", prepared_db, "--flow-yaml", tmp_path / "flow.yaml", cwd=tmp_path)

    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("aetherflow.plan") is None, reason="the flow planner is not built yet")
def test_the_flows_state_path_is_used_when_no_state_path_is_given(tmp_path: Path) -> None:
    db = make_state_db(tmp_path / "from-flow.db")
    insert_lock(db, "flow:from_yaml", "r1", LIVE_UNTIL)
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "version: 1\n"
        "flow:\n"
        "  id: from_yaml\n"
        "  state:\n"
        f"    path: {db}\n"
        "jobs:\n"
        "  - id: a\n"
        "    steps:\n"
        "      - id: s\n"
        "        type: check_items\n"
        "        inputs: {items: [1]}\n",
        encoding="utf-8",
    )

    done = aetherflow("locks", "list", "--flow-yaml", flow, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "flow:from_yaml  r1" in done.stdout
