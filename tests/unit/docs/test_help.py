"""Every command's ``--help`` explains the command; ``run`` and ``container`` list exit codes and settings."""

from __future__ import annotations

import argparse

import pytest

from aetherflow.cli import build_parser
from aetherflow.cli.helptext import _commands
from aetherflow.errors import ExitCode


def _all_commands() -> dict[str, argparse.ArgumentParser]:
    return _commands(build_parser(), "")


@pytest.mark.parametrize("command", sorted(_all_commands()))
def test_every_command_has_a_description(command: str) -> None:
    assert (_all_commands()[command].description or "").strip()


@pytest.mark.parametrize("command", ["run", "container"])
def test_run_and_container_help_lists_every_exit_code_and_the_settings_they_read(command: str) -> None:
    text = _all_commands()[command].format_help()

    for code in ExitCode:
        assert f"\n  {int(code):<4} " in text
    assert "AETHERFLOW_RUN_ID" in text
    assert "AETHERFLOW_OVERLAP_EXIT_CODE" in text
    assert "docs/reference/settings.md" in text


def test_container_help_lists_the_kubernetes_identity_settings() -> None:
    text = _all_commands()["container"].format_help()

    assert "AETHERFLOW_JOB_UID" in text
    assert "AETHERFLOW_JOB_UID" not in _all_commands()["run"].format_help()
