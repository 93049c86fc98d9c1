"""The built-in step input catalogue validation reads must match the step models."""

from __future__ import annotations

import json
import subprocess
import sys

from aetherflow.plan import STEP_SHAPES_FILE, builtin_step_shapes
from aetherflow.registry import Registry


def test_the_built_in_step_shapes_file_matches_the_step_input_models() -> None:
    current = builtin_step_shapes(Registry.builtin())

    stored = json.loads(STEP_SHAPES_FILE.read_text())

    assert stored == current, "run: python scripts/gen_step_shapes.py"


def test_validating_a_flow_of_built_in_steps_imports_no_step_module(tmp_path) -> None:
    # Step input shapes come from shapes.json: validation never imports a step module or builds its input model.
    # (pydantic's BaseModel machinery is loaded anyway since settings are a pydantic-settings class.)
    flow = tmp_path / "flow.yaml"
    flow.write_text("version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps:\n"
                    "      - {id: s, type: external.process, inputs: {command: [/bin/true], log: {stdout: capture}}}\n")
    probe = (
        "import sys; from aetherflow.cli import main; code = main(['validate', '--flow-yaml', sys.argv[1]]);"
        "print(code, any(m.startswith('aetherflow.steps.') for m in sys.modules))"
    )

    done = subprocess.run([sys.executable, "-c", probe, str(flow)], capture_output=True, text=True, check=True)

    assert done.stdout.split()[-2:] == ["0", "False"]
