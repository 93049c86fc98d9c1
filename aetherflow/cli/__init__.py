"""The ``aetherflow`` command line: argparse wiring; each command family lives in its own module.

Command modules import only argparse at top level and load what they need inside their handlers, so
``aetherflow --help`` or ``validate`` never pays for the runner, the state store or a connector library.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from aetherflow import __version__
from aetherflow.cli.helptext import complete_help
from aetherflow.errors import AetherFlowError, ExitCode, error_text

#: modules that each expose ``register(subparsers)``; the order is the order of ``--help``
COMMAND_MODULES = (
    "aetherflow.cli.run",
    "aetherflow.cli.validate",
    "aetherflow.cli.inspect",
    "aetherflow.cli.graph",
    "aetherflow.cli.bundle",
    "aetherflow.cli.runs",
    "aetherflow.cli.locks",
    "aetherflow.cli.state",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available command registered."""
    parser = argparse.ArgumentParser(prog="aetherflow", description="YAML-first workflow runner for Kubernetes Jobs.")
    parser.add_argument("--version", action="version", version=f"aetherflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command family not built yet
        module.register(sub)
    complete_help(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["container"]:
        # The image's entrypoint takes no arguments: skip building every command's parser on the pod's cold start.
        from aetherflow.edge.entrypoint import RunRequest
        from aetherflow.edge.entrypoint import main as run_main

        return _guarded(lambda: run_main(RunRequest(container=True)))
    parser = build_parser()
    args = parser.parse_args(argv)
    return _guarded(lambda: int(args.handler(args)))


def _guarded(handler: Callable[[], int]) -> int:
    """Run a command: expected errors as their one line and exit code, anything else as one line and exit 1."""
    try:
        code = handler()
        sys.stdout.flush()  # here, where a closed pipe can still be handled, not at interpreter exit
    except AetherFlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.SIGINT)
    except BrokenPipeError:
        # the reader left (`runs list | head`): nothing more to say, and nothing left to flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.FAILED)
    except Exception as exc:  # noqa: BLE001 (the last guard: one line for the user, the traceback only at DEBUG)
        return _unexpected_error(exc)
    return code


def _unexpected_error(exc: BaseException) -> int:
    """Report an error nobody expected: one line on stderr, the traceback only with AETHERFLOW_LOG_LEVEL=DEBUG."""
    print(f"error: internal error: {(error_text(exc).splitlines() or [''])[0]}", file=sys.stderr)
    if os.environ.get("AETHERFLOW_LOG_LEVEL", "").strip().upper() == "DEBUG":
        traceback.print_exception(exc, file=sys.stderr)
    return int(ExitCode.FAILED)


def run() -> None:
    """Console-script wrapper: exit with ``main()``'s code."""
    sys.exit(main())
