"""IANA time zones from the ``tzdata`` package, never from the operating system.

The runner image is slim and read-only and may lack ``/usr/share/zoneinfo``; a developer machine has one, but of
another release. ``run.date`` must be the same date wherever a run resumes, so every zone is read from the packaged
database, whatever the OS has and whatever ``PYTHONTZPATH`` says. Names are checked against the package's own list
before a file is opened, so a name can never point outside it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIMEZONE", "load_zone", "zone_problem"]

DEFAULT_TIMEZONE: Final = "UTC"


@functools.cache
def _zone_names() -> frozenset[str]:
    from importlib import resources

    text = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def zone_problem(name: object) -> str | None:
    """Why ``name`` is not a usable IANA time zone name (one line), or None when it is one."""
    if not isinstance(name, str) or not name:
        return "a time zone must be a non-empty IANA name such as Europe/Berlin"
    if name not in _zone_names():
        shown = name if len(name) <= 64 and name.isprintable() else repr(name[:64])
        return f"unknown time zone '{shown}': use an IANA name such as Europe/Berlin or UTC"
    return None


@functools.cache
def load_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` read from ``tzdata`` (ValueError with :func:`zone_problem`'s line when unknown)."""
    from importlib import resources
    from zoneinfo import ZoneInfo

    problem = zone_problem(name)
    if problem is not None:
        raise ValueError(problem)
    resource = resources.files("tzdata").joinpath("zoneinfo", *name.split("/"))
    with resource.open("rb") as handle:
        return ZoneInfo.from_file(handle, key=name)
