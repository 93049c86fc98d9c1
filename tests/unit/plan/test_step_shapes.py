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


def test_validating_a_flow_imports_only_the_step_modules_of_the_types_it_uses(tmp_path) -> None:
    # Input keys come from shapes.json; literal input values are checked by the step's own model, so the module of
    # each step type the flow uses is imported (as running it would), and no other step module.
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "version: 1\nflow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: check_items, inputs: {items: [a]}}\n"
    )
    probe = (
        "import sys; from aetherflow.cli import main; code = main(['validate', '--flow-yaml', sys.argv[1]]);"
        "print(code, ','.join(sorted(m for m in sys.modules if m.startswith('aetherflow.steps.'))))"
    )

    done = subprocess.run([sys.executable, "-c", probe, str(flow)], capture_output=True, text=True, check=True)

    assert done.stdout.split()[-2:] == ["0", "aetherflow.steps.control"]
