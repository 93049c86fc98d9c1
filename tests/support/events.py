"""Typed run events built from a name and (possibly partial) fields, for feeding an observer directly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from aetherflow.events import EVENT_CLASSES, AdHoc, Event


def event_of(name: str, fields: Mapping[str, Any]) -> Event:
    """The event class registered as ``name`` with the given fields (missing ones None); other names are ad hoc."""
    cls = EVENT_CLASSES.get(name)
    if cls is None:
        return AdHoc(event=name, data=dict(fields))
    return cls(**{f.name: fields.get(f.name) for f in dataclasses.fields(cls)})


def observe(observer: Any, name: str, fields: Mapping[str, Any]) -> None:
    """Hand ``observer`` the event ``name`` with ``fields``, as the event bus does."""
    observer.on_event(event_of(name, fields), fields)
