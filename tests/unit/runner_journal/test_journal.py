"""The run journal saves each transition, then announces it as a typed event."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from aetherflow.events import EVENT_CLASSES, Event, EventBus, JobEnd, JobStart, RunStart, StepEnd, StepStart
from aetherflow.runner.journal import RunJournal
from aetherflow.state.sqlite import SqliteStore


class Watcher:
    """Records each event with the step and job statuses the store holds at that moment."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.seen: list[tuple[Event, dict[str, str], dict[tuple[str, str], str]]] = []

    def on_event(self, event: Event, fields: Mapping[str, Any]) -> None:
        jobs = {k: v.status for k, v in self.store.load_jobs("flow", "r1").items()}
        steps = {k: v.status for k, v in self.store.load_steps("flow", "r1").items()}
        self.seen.append((event, jobs, steps))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore.open(tmp_path / "state.db")
    yield opened
    opened.close()


def test_every_event_follows_the_state_write_of_its_transition(store: SqliteStore) -> None:
    watcher = Watcher(store)
    bus = EventBus([watcher])
    journal = RunJournal(store, bus, "flow", "r1")
    journal.run_started(flow_file="flow.yaml", flow_sha256="abc", pod_name=None)
    journal.job_started("extract")
    journal.step_started("extract", "pull", "external.process", 1)
    journal.step_finished("extract", "pull", "external.process", "SUCCESS", attempts=1, duration_ms=5)
    journal.job_finished("extract", "SUCCESS", duration_ms=6)

    kinds = [type(event) for event, _, _ in watcher.seen]
    assert kinds == [RunStart, JobStart, StepStart, StepEnd, JobEnd]
    assert journal.attempt == 1
    _, jobs_at_step_start, steps_at_step_start = watcher.seen[2]
    assert jobs_at_step_start == {"extract": "RUNNING"} and steps_at_step_start == {("extract", "pull"): "RUNNING"}
    assert watcher.seen[3][2] == {("extract", "pull"): "SUCCESS"}
    assert watcher.seen[4][1] == {"extract": "SUCCESS"}


def test_a_step_end_leaves_out_its_error_only_when_it_succeeded() -> None:
    ok = StepEnd(job_id="j", step_id="s", step_type="t", status="SUCCESS", duration_ms=1, attempts=1)
    failed = StepEnd(job_id="j", step_id="s", step_type="t", status="FAILED", duration_ms=1, attempts=1, error="x")
    assert "error" not in ok.fields() and failed.fields()["error"] == "x"
    assert (ok.level, failed.level) == ("INFO", "ERROR")


def test_each_event_class_is_registered_under_its_own_name() -> None:
    assert all(cls.name == name for name, cls in EVENT_CLASSES.items())
    assert {"run_start", "job_end", "step_end", "step_retry", "run_summary"} <= EVENT_CLASSES.keys()
