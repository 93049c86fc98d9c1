"""Plugins written for aetherflow-core 0.0.14 (``aetherflow.core.api``) load and run unchanged."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import Status
from aetherflow.core import api as legacy
from aetherflow.errors import StepFailed
from aetherflow.plan import validate_flow
from aetherflow.plugins import load_plugins
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from aetherflow.spec.resources import ResolvedResource
from aetherflow.state.locks import LockManager, list_locks
from aetherflow.state.sqlite import SqliteStore
from tests.plugins import LEGACY_DIR
from tests.unit.plugins.helpers import make_context, run_as_runner

MakeSettings = Callable[..., Settings]


@pytest.fixture
def loaded(registry: Registry, make_settings: MakeSettings) -> Registry:
    assert load_plugins(registry, settings=make_settings(paths=[LEGACY_DIR])) == []
    return registry


def test_the_spec_example_plugin_runs_unchanged(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.write")

    result = run_as_runner(loaded, ctx, "demo.write", {"text": "hello"})

    assert result.status == Status.SUCCESS
    assert result.output == {"n": 5}


def test_legacy_inputs_are_not_key_checked(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.write")

    result = run_as_runner(loaded, ctx, "demo.write", {"text": "hi", "anything": {"else": [1, 2]}})

    assert result.output == {"n": 2}


def test_missing_required_inputs_fail_with_the_legacy_message_sorted(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.files")

    with pytest.raises(ValueError, match=r"^Step s1 missing inputs: \['content', 'name'\]$"):
        run_as_runner(loaded, ctx, "demo.files", {})


def test_validate_lists_the_missing_required_inputs_sorted() -> None:
    class Needs(legacy.Step):
        required_inputs = {"zeta", "alpha", "mid"}

        def run(self) -> dict[str, Any]:
            self.validate()
            return {}

    step = Needs("s9", {"mid": 1}, ctx=None, job_id="j")

    with pytest.raises(ValueError) as caught:
        step.run()

    assert str(caught.value) == "Step s9 missing inputs: ['alpha', 'zeta']"


def test_validation_warns_about_missing_required_inputs_of_a_legacy_step(tmp_path: Path, loaded: Registry) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        textwrap.dedent(
            """\
            version: 1
            flow: {id: legacy}
            jobs:
              - id: j
                steps:
                  - id: w
                    type: demo.write
                    inputs: {other: 1}
            """
        )
    )

    report, plan = validate_flow(str(flow), settings=Settings(), env={}, registry=loaded)

    assert report.errors == []
    assert plan is not None
    assert [(w.code, w.loc, w.msg) for w in report.warnings] == [
        ("semantic:missing_required_input", "jobs[0].steps[0].inputs", "Step w missing inputs: ['text']")
    ]


def test_the_legacy_context_offers_dirs_ids_settings_and_env(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.files", env={"DEMO_HOME": "/home/demo"})

    out = run_as_runner(loaded, ctx, "demo.files", {"name": "a.txt", "content": "data"}).output

    job_dir = tmp_path / "work" / "flow" / "j1" / "run1"
    assert out == {
        "path": str(job_dir / "artifacts" / "a.txt"),
        "job_dir": str(job_dir),
        "run_id": "run1",
        "flow_id": "flow",
        "work_root": str(tmp_path / "work"),
        "home": "/home/demo",
    }
    assert (job_dir / "artifacts" / "a.txt").read_text() == "data"


def test_dirs_of_another_job_are_created_under_the_same_run(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.write")
    legacy_ctx = legacy.LegacyRunContext(ctx)

    path = legacy_ctx.scratch_dir("other")

    assert path == tmp_path / "work" / "flow" / "other" / "run1" / "scratch"
    assert path.is_dir()


def test_a_legacy_skipped_result_keeps_its_reason(tmp_path: Path, loaded: Registry) -> None:
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.maybe")

    skipped = run_as_runner(loaded, ctx, "demo.maybe", {"count": 0})
    done = run_as_runner(loaded, ctx, "demo.maybe", {"count": 3})

    assert (skipped.status, skipped.reason, skipped.output) == (
        Status.SKIPPED,
        "nothing to do",
        {"count": 0, "reason": "nothing to do"},
    )
    assert (done.status, done.output) == (Status.SUCCESS, {"count": 3})


def test_an_unknown_legacy_status_fails_the_step() -> None:
    with pytest.raises(StepFailed, match="SUCCESS or SKIPPED"):
        legacy.to_step_result(legacy.StepResult(status="DONE"), "s1")


@pytest.fixture
def lock_holders(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    db = tmp_path / "state.db"
    SqliteStore.open(db).close()
    mine = LockManager(db, run_id="run1")
    other = LockManager(db, run_id="other-run")
    other.acquire("busy", 60)

    def hold_lock(key: str, *, ttl_seconds: int, wait_seconds: float = 0.0, stop: Any = None) -> Any:
        return mine.hold(key, ttl_seconds, wait_seconds=wait_seconds, stop=stop)

    try:
        yield db, hold_lock
    finally:
        mine.close()
        other.close()


def test_acquire_lock_reports_a_lock_held_by_another_run(
    tmp_path: Path, loaded: Registry, lock_holders: tuple[Path, Any]
) -> None:
    _db, hold_lock = lock_holders
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.lock", hold_lock=hold_lock)

    assert run_as_runner(loaded, ctx, "demo.lock", {"key": "busy"}).output == {"acquired": False}


def test_a_lock_the_legacy_step_did_not_release_is_released_when_it_returns(
    tmp_path: Path, loaded: Registry, lock_holders: tuple[Path, Any]
) -> None:
    db, hold_lock = lock_holders
    ctx, _pool = make_context(tmp_path, loaded, step_type="demo.lock", hold_lock=hold_lock)

    assert run_as_runner(loaded, ctx, "demo.lock", {"key": "free"}).output == {"acquired": True}

    assert [(row.key, row.owner.split("#")[0]) for row in list_locks(db)] == [("busy", "other-run")]


def _greeter(driver: str) -> ResolvedResource:
    return ResolvedResource("hello", "greeter", driver, {"greeting": "Hello"}, {"punctuation": "!"})


def test_a_legacy_connector_taking_config_and_options_is_built_by_the_connector_pool(
    tmp_path: Path, loaded: Registry
) -> None:
    ctx, pool = make_context(tmp_path, loaded, step_type="demo.greet", resources={"hello": _greeter("pair")})

    out = run_as_runner(loaded, ctx, "demo.greet", {"resource": "hello", "who": "Ada"}).output

    assert out == {"text": "Hello, Ada!", "same": True}
    connector = pool.get("hello")
    assert type(connector).__mro__[1].__name__ == "PairGreeter"
    assert isinstance(connector, type(connector).legacy_class)
    assert connector.default_retry() is None
    pool.close_all()


def test_a_legacy_connector_built_from_connector_init_gets_the_base_attributes(
    tmp_path: Path, loaded: Registry
) -> None:
    ctx, pool = make_context(tmp_path, loaded, step_type="demo.greet", resources={"hello": _greeter("init")})

    out = run_as_runner(loaded, ctx, "demo.greet", {"resource": "hello", "who": "Ada"}).output

    assert out["text"] == "Hello, Ada (from hello)"
    connector = pool.get("hello")
    assert (connector.name, connector.kind, connector.driver) == ("hello", "greeter", "init")
    assert isinstance(connector.config, dict)
    pool.close_all()


def test_list_steps_and_list_connectors_show_the_loaded_plugins(loaded: Registry) -> None:
    assert {"demo.write", "demo.files", "check_items"} <= set(legacy.list_steps())
    assert {"greeter:pair", "greeter:init", "db:sqlite3"} <= set(legacy.list_connectors())


def test_the_compatibility_module_exports_the_upstream_names() -> None:
    assert (legacy.STEP_SUCCESS, legacy.STEP_SKIPPED) == ("SUCCESS", "SKIPPED")
    assert legacy.ConnectorError.__name__ == "ConnectorError"
    meta = legacy.RemoteFileMeta(rel_path="a/b.txt", size=3, mtime=1.5)
    assert (meta.sha256, meta.is_dir) == (None, False)
    assert set(legacy.__all__) >= {
        "Step",
        "StepResult",
        "STEP_SUCCESS",
        "STEP_SKIPPED",
        "register_step",
        "register_connector",
        "ConnectorBase",
        "ConnectorInit",
        "ConnectorError",
        "RemoteFileMeta",
        "list_steps",
        "list_connectors",
    }
