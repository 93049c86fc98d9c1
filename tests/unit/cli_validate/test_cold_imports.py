"""Validating a flow imports no heavy client library (cold start of every pod); settings are pydantic-settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("boto3", "botocore", "paramiko", "sqlalchemy", "kubernetes", "prometheus_client")


def test_importing_the_cli_and_validating_a_flow_loads_no_heavy_module() -> None:
    flows = [str(p) for p in sorted((ROOT / "examples" / "flows").glob("*.yaml"))]
    probe = (
        "import sys, contextlib, io\n"
        "from aetherflow.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    codes = [main(['validate', '--flow-yaml', f]) for f in {flows!r}]\n"
        f"print(codes, sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)

    assert done.stdout.strip() == f"{[0] * len(flows)} []"


def test_validation_does_not_import_the_runner_or_the_state_store() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from aetherflow.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['validate', '--flow-yaml', 'examples/flows/minimal.yaml'])\n"
        "prefixes = ('aetherflow.runner', 'aetherflow.state', 'aetherflow.edge.entrypoint', 'aetherflow.edge.run_',\n"
        "            'aetherflow.edge.push')\n"
        "print(sorted(m for m in sys.modules if m.startswith(prefixes)))\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)

    assert done.stdout.strip() == "[]"
