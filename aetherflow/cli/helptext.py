"""What ``aetherflow COMMAND --help`` says beyond the flags: a description per command, and for ``run`` and
``container`` the exit codes and the settings they read.

Applied once the parser is built (``complete_help``), so a command module that writes its own ``description`` keeps
it. The exit codes come from ``ExitCode`` and the settings from ``Settings``, each with its documented meaning, so
``--help`` and ``docs/reference/`` say the same thing.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Final

#: command path -> description (used when the command module gave none)
DESCRIPTIONS: Final[dict[str, str]] = {
    "run": "Run a flow once: validate it, take its locks, run its jobs in dependency order and record every status "
    "in the state database. An existing run id resumes that run: finished jobs are not run again.",
    "container": "The image entrypoint. Takes no arguments: every input comes from AETHERFLOW_* settings (the "
    "Helm chart sets them), with container defaults for the flow, profiles, state and work paths and JSON logs. "
    "Writes the termination message and pushes metrics when configured.",
    "validate": "Validate a flow file with the environment a run would use. Executes nothing.",
    "schema": "Print the JSON Schema of flows, profiles or bundle manifests, for editors.",
    "doctor": "Check what a run of the flow needs from this machine: environment values, state directory, "
    "connectors and their extras.",
    "explain": "Show each resource's settings with where each value comes from (profile, resource, env).",
    "bundle": "Sync a bundle manifest into the local cache, or show what is cached.",
    "bundle sync": "Fetch the bundle the manifest describes and activate it atomically. Exit 0 when synced, "
    "1 when the source could not be reached, 2 for an invalid manifest, 3 for a permanent source error.",
    "bundle status": "Show the cached and active bundle of a manifest. Never fetches.",
    "runs": "List and inspect the runs recorded in the state database.",
    "runs list": "List runs, newest first, with status, attempts and times.",
    "runs show": "Show one run: its jobs, steps, statuses, attempts, errors and outputs; with --graph, the flow's "
    "graph coloured by each job's status in this run.",
    "locks": "List or release the locks in the state database.",
    "locks list": "List every lock with its owner, heartbeat and expiry.",
    "locks release": "Delete a lock: only when its owner is the given run id, or any owner with --force. "
    "Use it when a lock outlived a run that cannot come back.",
    "state": "Create, migrate or prune the state database.",
    "state init": "Create the state database, or migrate it to the current schema (after the volume check).",
    "state prune": "Delete finished runs older than DAYS, with their workspace directories on this machine.",
}

#: settings ``container`` reads beyond those of ``run`` (the Kubernetes identity and schedule)
_CONTAINER_EXTRA: Final[tuple[str, ...]] = (
    "job_name",
    "job_uid",
    "pod_name",
    "namespace",
    "schedule_name",
    "scheduled_at",
    "timezone",
    "pushgateway_namespace_label",
)


def exit_codes_epilog() -> str:
    """The exit-code table as ``--help`` text."""
    from aetherflow.error_codes import EXIT_CODE_HELP
    from aetherflow.errors import ExitCode

    lines = ["exit codes:"]
    for code in ExitCode:
        text = f"{int(code):<4} {EXIT_CODE_HELP.get(code.name, code.name)}"
        lines.append(textwrap.fill(text, 100, initial_indent="  ", subsequent_indent="       "))
    return "\n".join(lines)


def settings_epilog(names: tuple[str, ...]) -> str:
    """The settings ``names`` (those ``Settings`` has) with their meanings, as ``--help`` text."""
    from aetherflow.settings import PREFIX, Settings
    from aetherflow.settings_help import SETTING_HELP

    lines = ["settings read (every AETHERFLOW_* setting: docs/reference/settings.md):"]
    for name in names:
        if name in Settings.model_fields:
            lines.append(f"  {PREFIX}{name.upper()}\n      {SETTING_HELP.get(name, '')}")
    return "\n".join(lines)


def complete_help(parser: argparse.ArgumentParser) -> None:
    """Give every command its description, and ``run``/``container`` their exit codes and settings."""
    from aetherflow.settings_help import RUN_SETTINGS

    commands = _commands(parser, "")
    for path, command in commands.items():
        if not command.description and path in DESCRIPTIONS:
            command.description = DESCRIPTIONS[path]
    epilogs = {"run": RUN_SETTINGS, "container": RUN_SETTINGS + _CONTAINER_EXTRA}
    for path, names in epilogs.items():
        if path in commands:
            command = commands[path]
            command.formatter_class = argparse.RawDescriptionHelpFormatter
            command.description = textwrap.fill(command.description or "", 100)
            command.epilog = exit_codes_epilog() + "\n\n" + settings_epilog(names)


def _commands(parser: argparse.ArgumentParser, path: str) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                sub_path = f"{path} {name}".strip()
                found[sub_path] = sub
                found.update(_commands(sub, sub_path))
    return found
