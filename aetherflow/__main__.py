"""``python -m aetherflow``."""

from aetherflow.cli import run

run()
