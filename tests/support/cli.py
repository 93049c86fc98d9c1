"""Running the real ``aetherflow`` CLI in a subprocess, as a user or a CronJob pod would."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CliResult:
    """Exit code and output of one CLI call."""

    code: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """JSON log events from stderr (needs AETHERFLOW_LOG_FORMAT=json)."""
        out = []
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def event(self, name: str) -> list[dict[str, Any]]:
        """Every event called ``name``."""
        return [e for e in self.events() if e.get("event") == name]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``AETHERFLOW_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")}
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    """The argv of ``python -m aetherflow ARGS`` with this interpreter."""
    return [sys.executable, "-m", "aetherflow", *args]


def run_args(flow: Path, state: Path, work: Path, run_id: str | None = None) -> list[str]:
    """The arguments of ``aetherflow run`` for ``flow`` with its own state database and work root (and run id)."""
    args = ["run", "--flow-yaml", str(flow), "--state", str(state), "--work-root", str(work)]
    if run_id:
        args += ["--run-id", run_id]
    return args


def aetherflow(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input_text: str | None = None,
) -> CliResult:
    """Run ``python -m aetherflow ARGS`` with JSON logs and a clean AETHERFLOW_* environment."""
    base = clean_env(AETHERFLOW_LOG_FORMAT="json")
    base.update(env or {})
    done = subprocess.run(
        cli_argv(*args),
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        timeout=timeout,
        input=input_text,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def write_flow(directory: Path, text: str, name: str = "flow.yaml") -> Path:
    """Write a flow (dedented) and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


@dataclass
class FlowRun:
    """A flow in a temp dir with its own state and work root."""

    root: Path
    flow: Path

    @property
    def state(self) -> Path:
        return self.root / "state.db"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def run(
        self, *extra: str, run_id: str = "r1", env: dict[str, str] | None = None, timeout: float = 120
    ) -> CliResult:
        """``aetherflow run`` of this flow with its state and work root."""
        return aetherflow(*run_args(self.flow, self.state, self.work, run_id), *extra, env=env, timeout=timeout)

    def show(self, run_id: str = "r1", env: dict[str, str] | None = None) -> dict[str, Any]:
        """``runs show --json`` parsed."""
        res = aetherflow(
            "runs",
            "show",
            run_id,
            "--flow-yaml",
            str(self.flow),
            "--json",
            env={"AETHERFLOW_STATE_PATH": str(self.state), **(env or {})},
        )
        assert res.code == 0, res.stderr
        return json.loads(res.stdout)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows straight from the state database."""
        with sqlite3.connect(self.state) as conn:
            return conn.execute(sql, args).fetchall()


def make_flow(tmp_path: Path, text: str) -> FlowRun:
    """A FlowRun for ``text`` written under ``tmp_path``."""
    return FlowRun(tmp_path, write_flow(tmp_path, text))
