"""After an ``external.process`` attempt: the output checks and the ``atomic_dir`` publication of its output."""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from aetherflow.steps.process_plan import Plan

__all__ = ["output_problem", "publish"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def output_problem(plan: Plan) -> str | None:
    """The first failed success check as the spec's reason, or None when every check passes."""
    for raw, path in plan.required:
        if not path.exists():
            return f"missing_required_file:{raw}"
    for raw, pattern in plan.globs:
        if not glob.glob(str(pattern), recursive=True):
            return f"missing_required_glob:{raw}"
    for raw, path in plan.forbidden:
        if path.exists() or path.is_symlink():
            return f"forbidden_file_present:{raw}"
    return None


def publish(temp: Path, final: Path, *, atomic_rename: bool) -> None:
    """Move the attempt's output from ``temp`` to ``final`` (replace it, or merge entries into it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not atomic_rename:
        _merge_into(temp, final)
        return
    try:
        if not final.exists() and not final.is_symlink():
            os.rename(temp, final)
        elif _exchange(temp, final):
            _remove(temp)  # now holds the previous final
        else:
            _replace_by_two_renames(temp, final)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise OSError(
                exc.errno,
                f"atomic_dir: {temp} and {final} are on different filesystems; put temp_output_dir and "
                "final_output_dir on one filesystem or set idempotency.atomic_rename: false",
            ) from exc
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported here."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # filesystem or kernel without the flag
        return False
    raise OSError(code, f"renameat2({a}, {b}, RENAME_EXCHANGE) failed: {os.strerror(code)}")


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    typed: Callable[..., int] = fn
    return typed


def _replace_by_two_renames(temp: Path, final: Path) -> None:
    backup = final.with_name(f".{final.name}.replaced-{os.getpid()}")
    _remove(backup)
    os.rename(final, backup)
    try:
        os.rename(temp, final)
    except OSError:
        os.rename(backup, final)
        raise
    _remove(backup)


def _merge_into(temp: Path, final: Path) -> None:
    final.mkdir(parents=True, exist_ok=True)
    for entry in sorted(temp.iterdir()):
        target = final / entry.name
        _remove(target)
        shutil.move(entry, target)
    _remove(temp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
