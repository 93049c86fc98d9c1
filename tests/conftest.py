"""Shared test wiring: every module in tests/servers/ is a pytest plugin of real-server fixtures."""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.servers.{p.stem}" for p in (Path(__file__).parent / "servers").glob("*.py") if p.stem != "__init__"
)
