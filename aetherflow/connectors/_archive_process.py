"""What the archive connectors that run programs share: running one argv, and staging what a program extracted.

A program (``zip``, ``unzip``, 7z...) is run from an argv list, never through a shell, in its own session so a stop
request reaches it and everything it started. Its output is kept only to name the failure; a password in the argv is
masked there.

An extraction program writes into a private staging directory; ``check_extracted`` then checks every path it produced
before anything reaches the destination: only regular files and directories, each name a safe relative path under
the staging root (a program may restore symlinks or device files the zip reader never saw, or follow other rules).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aetherflow.api import CancelToken, ConnectorError, Interrupted, parent_death_preexec, safe_join

_POLL_SECONDS = 0.1
_OUTPUT_TAIL = 400


def run_program(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    secret: str | None = None,
    cancelled: CancelToken | None = None,
) -> None:
    """Run ``argv``; a missing program, a non-zero exit or a stop request becomes an error naming ``what``."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_preexec(),  # noqa: PLW1509 (only arms PR_SET_PDEATHSIG, see aetherflow.api)
        )
    except FileNotFoundError:
        raise ConnectorError(f"{what}: program '{argv[0]}' not found on PATH") from None
    except OSError as exc:
        raise ConnectorError(f"{what}: cannot start '{argv[0]}': {exc.strerror}") from None
    output = _wait(proc, stdin, what, cancelled)
    if proc.returncode != 0:
        tail = output.decode("utf-8", errors="replace").strip()[-_OUTPUT_TAIL:]
        if secret:
            tail = tail.replace(secret, "***")
        last = tail.splitlines()[-1].strip() if tail else "no output"
        raise ConnectorError(f"{what}: '{argv[0]}' exited {proc.returncode}: {last}")


def _wait(proc: subprocess.Popen[bytes], stdin: bytes | None, what: str, cancelled: CancelToken | None) -> bytes:
    data = stdin
    while True:
        try:
            out, _ = proc.communicate(data, timeout=_POLL_SECONDS)
            return out or b""
        except subprocess.TimeoutExpired:
            data = None  # communicate() keeps feeding what it was given first
        if cancelled is not None and cancelled.is_set():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            raise Interrupted(f"{what} stopped: stop requested")


def check_extracted(stage: Path, who: str, archive: Path) -> list[str]:
    """Every regular file the program extracted under ``stage`` (relative POSIX names, sorted); refuse anything else.

    Symlinks, hard-linked files, devices, FIFOs and sockets are refused: ``<who> refused unsafe entry '<name>' in
    <archive>: <why>``, the wording of the zip readers' own refusals.
    """
    files: list[str] = []
    for root, dirs, names in os.walk(stage, followlinks=False):
        for name in sorted(dirs) + sorted(names):
            path = Path(root) / name
            rel = path.relative_to(stage).as_posix()
            mode = path.lstat()
            reason = None
            if stat.S_ISLNK(mode.st_mode):
                reason = "symlink"
            elif not (stat.S_ISDIR(mode.st_mode) or stat.S_ISREG(mode.st_mode)):
                reason = "special file"
            elif stat.S_ISREG(mode.st_mode) and mode.st_nlink > 1:
                reason = "hard link"
            else:
                try:
                    safe_join(stage, rel)
                except ValueError:
                    reason = "parent traversal"
            if reason:
                raise ValueError(f"{who} refused unsafe entry '{rel}' in {archive}: {reason}")
            if stat.S_ISREG(mode.st_mode):
                files.append(rel)
    return sorted(files)


@contextmanager
def staging_dir(dest: Path) -> Iterator[Path]:
    """A fresh private directory inside ``dest`` for one extraction, removed afterwards whatever happens."""
    dest.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".aetherflow-extract-", dir=dest))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def place(stage: Path, dest: Path, names: Sequence[str], *, overwrite: bool) -> list[str]:
    """Move the checked ``names`` from ``stage`` into ``dest``; without ``overwrite`` existing files are kept."""
    placed: list[str] = []
    for name in names:
        target = safe_join(dest, name)
        for parent in reversed(target.relative_to(dest).parents):
            if (dest / parent).is_symlink():
                raise ValueError(f"refused to write through symlink {dest / parent}")
        if target.is_symlink() or target.is_dir():
            raise ValueError(f"cannot replace {target}: it is a {'symlink' if target.is_symlink() else 'directory'}")
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(safe_join(stage, name), target)
        placed.append(name)
    return placed
