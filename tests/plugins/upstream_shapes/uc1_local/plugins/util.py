"""A helper module next to the plugins (upstream's demos ship one): plugin folders are importable."""

from __future__ import annotations


def require(module_name: str):
    try:
        return __import__(module_name)
    except ImportError as exc:
        raise RuntimeError(f"{module_name} is needed by this demo") from exc
