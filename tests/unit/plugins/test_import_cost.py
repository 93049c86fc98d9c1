"""The plugin loader, the compatibility API and the bundle commands load no heavy client library on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "paramiko", "sqlalchemy", "kubernetes", "prometheus_client", "urllib3", "psycopg")


@pytest.mark.parametrize(
    "module", ["aetherflow.plugins", "aetherflow.core.api", "aetherflow.bundles", "aetherflow.cli.bundle"]
)
def test_importing_loads_no_heavy_client(module: str) -> None:
    probe = f"import sys, {module}; print(' '.join(sorted(set(sys.modules) & {set(HEAVY)!r})))"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.strip() == ""


def test_the_compatibility_api_does_not_import_pydantic_until_a_legacy_step_model_is_needed() -> None:
    probe = (
        "import sys\n"
        "from aetherflow.core.api import Step, register_step\n"
        "@register_step('x')\n"
        "class X(Step):\n"
        "    required_inputs = {'a'}\n"
        "    def run(self):\n"
        "        return {}\n"
        "before = 'pydantic' in sys.modules\n"
        "from aetherflow.api import take_registrations\n"
        "[reg] = take_registrations()\n"
        "model = reg.target.inputs_model\n"
        "print(before, 'pydantic' in sys.modules, sorted(model.model_fields))\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.split() == ["False", "True", "['a']"]
