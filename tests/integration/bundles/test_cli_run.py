"""``aetherflow run --bundle-manifest`` end to end: flow, profiles, env file and plugin all come from the bundle.

Spec plugins-and-bundles.md §3 and §5, cli.md §3, observability.md §3: the bundle's fingerprint is recorded with the
run (``runs show``) and in ``run_start`` / ``run_summary``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aetherflow.errors import ExitCode
from tests.integration.bundles.helpers import (
    bundle_files,
    content_fingerprint,
    greet_flow,
    write_manifest,
    write_tree,
)
from tests.plugins import BROKEN_DIR, LEGACY_DIR
from tests.plugins.dist import make_distribution
from tests.support.cli import CliResult, aetherflow

FLOW_WITH_DIRS = greet_flow("{{env.GREET_NAME}} from {{env.AETHERFLOW_ACTIVE_DIR}} cache {{env.AETHERFLOW_CACHE_DIR}}")


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return aetherflow(
        "run",
        "--state",
        str(tmp_path / "state.db"),
        "--work-root",
        str(tmp_path / "work"),
        "--run-id",
        "r1",
        *args,
        env=env,
    )


def _show(tmp_path: Path) -> dict[str, Any]:
    res = aetherflow("runs", "show", "r1", "--state", str(tmp_path / "state.db"), "--json")
    assert res.code == 0, res.stderr
    shown: dict[str, Any] = json.loads(res.stdout)
    return shown


def test_a_run_from_a_bundle_uses_its_flow_plugin_and_env_file_and_records_the_fingerprint(tmp_path: Path) -> None:
    files = bundle_files(flow=FLOW_WITH_DIRS)
    write_tree(tmp_path / "src", files)
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    res = _run(tmp_path, "--bundle-manifest", str(manifest))

    assert res.code == ExitCode.OK, res.stderr
    fingerprint = content_fingerprint(files)
    active = tmp_path / "work" / "bundles" / "demo" / "active"
    shown = _show(tmp_path)
    assert shown["status"] == "SUCCESS"
    assert shown["bundle_fingerprint"] == fingerprint
    output = shown["jobs"]["greet"]["steps"]["hello"]["outputs"]
    assert output["text"] == f"Hello, bundle from {active} cache {active.parent / 'cache'}!"
    [start] = res.event("run_start")
    [summary] = res.event("run_summary")
    assert start["bundle_fingerprint"] == summary["bundle_fingerprint"] == fingerprint
    assert start["yaml"] == str(active / "flows" / "main.yaml")


def test_the_container_reads_the_manifest_from_the_environment(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    res = _run(tmp_path, env={"AETHERFLOW_BUNDLE_MANIFEST": str(manifest)})

    assert res.code == ExitCode.OK, res.stderr
    assert _show(tmp_path)["bundle_fingerprint"] == content_fingerprint(bundle_files())


def test_the_bundle_profiles_replace_ambient_ones_with_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    res = _run(tmp_path, "--bundle-manifest", str(manifest), env={"AETHERFLOW_PROFILES_JSON": "{}"})

    assert res.code == ExitCode.OK, res.stderr
    assert len(res.event("profiles_overridden_by_bundle")) == 1


def test_an_enterprise_bundle_ignores_ambient_plugin_paths_and_loads_its_trusted_ones(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(
        tmp_path / "m.yaml", {"type": "local", "base_path": "src"}, mode="enterprise", paths={"plugins": ["plugins"]}
    )

    res = _run(tmp_path, "--bundle-manifest", str(manifest), env={"AETHERFLOW_PLUGIN_PATHS": str(BROKEN_DIR)})

    assert res.code == ExitCode.OK, res.stderr
    assert [e["paths"] for e in res.event("plugin_paths_ignored")] == [str(BROKEN_DIR)]


def test_a_sync_that_retrying_cannot_fix_exits_3_before_anything_runs(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "missing"})

    res = _run(tmp_path, "--bundle-manifest", str(manifest))

    assert res.code == ExitCode.PERMANENT
    assert "bundle source directory not found" in res.stderr
    assert not (tmp_path / "state.db").exists()


def _unreachable_manifest(tmp_path: Path) -> Path:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    return write_manifest(tmp_path / "m.yaml", {"type": "archive", "url": "http://127.0.0.1:9/bundle.zip"})


def test_an_unreachable_bundle_source_exits_1_retryable_before_anything_runs(tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    termination.touch()

    res = _run(
        tmp_path,
        "--bundle-manifest",
        str(_unreachable_manifest(tmp_path)),
        env={"AETHERFLOW_TERMINATION_LOG": str(termination)},
    )

    assert res.code == ExitCode.FAILED, res.stderr
    assert "Traceback" not in res.stderr and "Bundle sync failed" in res.stderr.splitlines()[-1]
    assert not (tmp_path / "state.db").exists()  # no run record
    message = json.loads(termination.read_text())
    assert list(message)[:3] == ["status", "exit_code", "retryable"]
    assert (message["status"], message["exit_code"], message["retryable"]) == ("FAILED", 1, True)


def test_bundle_sync_of_an_unreachable_source_exits_1_and_of_a_missing_one_exits_3(tmp_path: Path) -> None:
    work = str(tmp_path / "work")
    missing = write_manifest(tmp_path / "missing.yaml", {"type": "local", "base_path": "nowhere"})

    unreachable = aetherflow(
        "bundle", "sync", "--bundle-manifest", str(_unreachable_manifest(tmp_path)), "--work-root", work
    )
    refused = aetherflow("bundle", "sync", "--bundle-manifest", str(missing), "--work-root", work)

    assert (unreachable.code, refused.code) == (ExitCode.FAILED, ExitCode.PERMANENT)


def test_a_sync_that_retrying_cannot_fix_says_so_in_the_termination_message(tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    termination.touch()
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "missing"})

    res = _run(tmp_path, "--bundle-manifest", str(manifest), env={"AETHERFLOW_TERMINATION_LOG": str(termination)})

    assert res.code == ExitCode.PERMANENT
    message = json.loads(termination.read_text())
    assert (message["status"], message["exit_code"], message["retryable"]) == ("FAILED", 3, False)


def test_a_failed_sync_runs_the_stale_bundle_when_allowed(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})
    sync = aetherflow("bundle", "sync", "--bundle-manifest", str(manifest), "--work-root", str(tmp_path / "work"))
    assert sync.code == 0, sync.stderr
    (src / "profiles.yaml").unlink()

    res = _run(tmp_path, "--bundle-manifest", str(manifest), "--allow-stale-bundle")

    assert res.code == ExitCode.OK, res.stderr
    [stale] = res.event("bundle_stale")
    assert stale["fingerprint"] == content_fingerprint(bundle_files())
    assert _show(tmp_path)["bundle_fingerprint"] == content_fingerprint(bundle_files())


LEGACY_FLOW = """\
version: 1
flow:
  id: legacy
jobs:
  - id: j
    steps:
      - id: w
        type: demo.write
        inputs:
          text: "{{env.GREET_NAME}}"
"""


def test_a_legacy_plugin_shipped_in_the_bundle_runs_unchanged(tmp_path: Path) -> None:
    files = {**bundle_files(flow=LEGACY_FLOW, with_plugin=False)}
    files["plugins/demo_write.py"] = (LEGACY_DIR / "demo_write.py").read_bytes()
    write_tree(tmp_path / "src", files)
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    res = _run(tmp_path, "--bundle-manifest", str(manifest))

    assert res.code == ExitCode.OK, res.stderr
    assert _show(tmp_path)["jobs"]["j"]["steps"]["w"]["outputs"] == {"n": len("bundle")}


def test_an_installed_entry_point_plugin_is_loaded_by_a_run(tmp_path: Path) -> None:
    site = make_distribution(
        tmp_path / "site",
        "afplug-shout",
        modules={
            "afplug_shout": """
                from aetherflow.api import Inputs, Step, StepResult, register_step

                class ShoutInputs(Inputs):
                    text: str

                class Shout(Step[ShoutInputs]):
                    inputs_model = ShoutInputs

                    def run(self, inputs, ctx):
                        return StepResult.success(text=inputs.text.upper())

                def register():
                    register_step("shout")(Shout)
                """
        },
        entry_points={"aetherflow.plugins": {"shout": "afplug_shout:register"}},
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "version: 1\nflow: {id: ep}\njobs:\n  - id: j\n    steps:\n"
        "      - id: s\n        type: shout\n        inputs: {text: hello}\n"
    )
    pythonpath = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    res = _run(tmp_path, "--flow-yaml", str(flow), env={"PYTHONPATH": pythonpath})

    assert res.code == ExitCode.OK, res.stderr
    assert _show(tmp_path)["jobs"]["j"]["steps"]["s"]["outputs"] == {"text": "HELLO"}


def test_validate_checks_the_bundles_entry_flow_with_its_plugins_and_env(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", bundle_files())
    manifest = write_manifest(tmp_path / "m.yaml", {"type": "local", "base_path": "src"})

    res = aetherflow("validate", "--bundle-manifest", str(manifest), env={"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")})

    assert res.code == ExitCode.OK, res.stdout + res.stderr
    assert res.stdout.startswith(f"OK: {tmp_path / 'w' / 'bundles' / 'demo' / 'active' / 'flows' / 'main.yaml'}")
