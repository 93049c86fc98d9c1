"""Opt-in Kubernetes Events on the Job of a failed or refused run, posted by a real ``aetherflow container``.

Mock: no Kubernetes API server can run here; kmock's emulator serves the real HTTP API that the official client
talks to unchanged, from a kubeconfig the runner reads like any workstation would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import CliResult, aetherflow, clean_env, write_flow
from tests.unit.chart.emulator import NS, Emulator, running_emulator

SECRET = "s3cr3t-Pa55w0rd-for-events"
FLOW = """
version: 1
flow:
  id: evented
jobs:
  - id: load
    steps:
      - id: push
        type: external.process
        inputs:
          command: ["sh", "-c", "{{env.LOAD_SCRIPT:exit 0}}"]
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    pytest.importorskip("kmock")
    with running_emulator() as emu:
        emu.handler.resources["v1/events"] = {}  # declared up front, so an empty list reads as empty (not 404)
        yield emu


def _kubeconfig(tmp_path: Path, emulator: Emulator) -> Path:
    url = emulator.api.configuration.host
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emu", "cluster": {"server": url}}],
        "users": [{"name": "runner", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "runner", "namespace": NS}}],
        "current-context": "emu",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _container(tmp_path: Path, emulator: Emulator, *, events: bool, **env: str) -> CliResult:
    flow = write_flow(tmp_path, FLOW)
    (tmp_path / "termination-log").touch()
    return aetherflow(
        "container",
        env={
            "AETHERFLOW_FLOW_FILE": str(flow),
            "AETHERFLOW_STATE_PATH": str(tmp_path / "state.db"),
            "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
            "AETHERFLOW_TERMINATION_LOG": str(tmp_path / "termination-log"),
            "AETHERFLOW_JOB_NAME": "etl-nightly-29538840",
            "AETHERFLOW_JOB_UID": "0f6c1c9e-2b7e-4a55-9a2f-3f1d9d1c0a11",
            "AETHERFLOW_NAMESPACE": NS,
            "AETHERFLOW_KUBERNETES_EVENTS": "true" if events else "false",
            "KUBECONFIG": str(_kubeconfig(tmp_path, emulator)),
            "DB_PASSWORD": SECRET,
            **env,
        },
    )


def _events(emulator: Emulator) -> list[Any]:
    return list(emulator.core().list_namespaced_event(NS).items)


def test_a_failed_run_posts_a_warning_event_on_its_job(tmp_path: Path, emulator: Emulator) -> None:
    result = _container(tmp_path, emulator, events=True, LOAD_SCRIPT="echo boom >&2; exit 7")

    assert result.code == 1, result.stderr
    (event,) = _events(emulator)
    assert (event.reason, event.type) == ("RunFailed", "Warning")
    obj = event.involved_object
    assert (obj.kind, obj.name, obj.namespace) == ("Job", "etl-nightly-29538840", NS)
    assert obj.uid == "0f6c1c9e-2b7e-4a55-9a2f-3f1d9d1c0a11"
    assert "load.push" in event.message and "exit code 1" in event.message


def test_the_event_message_is_redacted(tmp_path: Path, emulator: Emulator) -> None:
    result = _container(tmp_path, emulator, events=True, LOAD_SCRIPT=f"echo {SECRET} >&2; exit 3")

    assert result.code == 1
    (event,) = _events(emulator)
    assert SECRET not in event.message


def test_a_successful_run_posts_no_event(tmp_path: Path, emulator: Emulator) -> None:
    assert _container(tmp_path, emulator, events=True).code == 0
    assert _events(emulator) == []


def test_without_the_setting_nothing_is_posted(tmp_path: Path, emulator: Emulator) -> None:
    result = _container(tmp_path, emulator, events=False, LOAD_SCRIPT="exit 1")
    assert result.code == 1
    assert _events(emulator) == []


def test_an_unreachable_api_server_costs_a_warning_and_leaves_the_exit_code(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "u"}}],
                "current-context": "x",
            }
        ),
        encoding="utf-8",
    )
    flow = write_flow(tmp_path, FLOW)
    result = aetherflow(
        "run",
        "--flow-yaml",
        str(flow),
        "--state",
        str(tmp_path / "state.db"),
        "--work-root",
        str(tmp_path / "work"),
        env={
            "AETHERFLOW_KUBERNETES_EVENTS": "true",
            "AETHERFLOW_JOB_NAME": "j",
            "AETHERFLOW_NAMESPACE": NS,
            "KUBECONFIG": str(kubeconfig),
            "LOAD_SCRIPT": "exit 1",
        },
    )
    assert result.code == 1
    (warning,) = result.event("kubernetes_event_failed")
    assert warning["level"] == "WARNING" and "Connection refused" in warning["error"]


def test_a_run_without_the_setting_never_imports_the_kubernetes_client(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, FLOW)
    probe = (
        "import runpy, sys\n"
        "flow, state, work = sys.argv[1:4]\n"
        "sys.argv = ['aetherflow', 'run', '--flow-yaml', flow, '--state', state, '--work-root', work]\n"
        "try:\n    runpy.run_module('aetherflow', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('KUBERNETES_LOADED' if 'kubernetes' in sys.modules else 'KUBERNETES_ABSENT')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(flow), str(tmp_path / "s.db"), str(tmp_path / "w")],
        capture_output=True,
        text=True,
        env=clean_env(AETHERFLOW_LOG_FORMAT="json"),
        timeout=120,
    )
    assert "KUBERNETES_ABSENT" in done.stdout, done.stdout + done.stderr
