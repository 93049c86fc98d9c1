"""Every example flow validates (exit 0) with no environment set (README, Helm chart and tests rely on them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.plan import validate_flow
from aetherflow.registry import Registry
from aetherflow.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples" / "flows").glob("*.yaml"))


def test_the_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"minimal.yaml", "depends_when.yaml", "profiles_env.yaml"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_without_errors_in_an_empty_environment(example: Path) -> None:
    report, plan = validate_flow(str(example), settings=Settings(), env={}, registry=Registry.builtin())

    assert report.errors == []
    assert plan is not None
    # nightly_sales has secrets without a default on purpose: validate warns, the run preflight refuses to start
    assert all(w.code in {"semantic:unknown_profile", "semantic:missing_env"} for w in report.warnings)


def test_profiles_example_has_no_warning_with_its_profiles_file() -> None:
    settings = Settings(profiles_file=str(ROOT / "examples" / "profiles.yaml"))

    report, plan = validate_flow(
        str(ROOT / "examples" / "flows" / "profiles_env.yaml"), settings=settings, env={}, registry=Registry.builtin()
    )

    assert report.errors == [] and report.warnings == []
    assert plan is not None and plan.resources["local_db"].profile == "local_sqlite"


def test_examples_validate_through_the_console_entry_with_an_empty_environment() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aetherflow", "validate", "--flow-yaml", str(EXAMPLES[0])],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert done.returncode == 0, done.stdout + done.stderr
