"""Log formatting (JSON or text), the redaction filter, and ``configure()`` (called only by the edge).

Events arrive as log records whose ``event`` attribute names them and whose ``fields`` attribute holds their data;
any other record (a library's) is rendered as a plain ``log`` record.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from aetherflow.observability.logvalues import escape, loggable, text_value
from aetherflow.observability.textsummary import text_summary
from aetherflow.redaction import Redactor


def _iso(ts: float) -> str:
    ms = round(ts * 1000)
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


Mask = Callable[[str], str]


def _unmasked(text: str) -> str:
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts_ms, event, level, then the event's fields (each string masked first)."""

    def __init__(self, mask: Mask = _unmasked) -> None:
        super().__init__()
        self._mask = mask

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        head: dict[str, Any] = {"ts_ms": int(record.created * 1000)}
        if event is None:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + self.formatException(record.exc_info)
            head.update(event="log", level=record.levelname, logger=record.name, message=self._mask(message))
        else:
            head.update(event=event, level=record.levelname)
            fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
            for key, value in loggable(fields, self._mask).items():
                if key not in head:
                    head[key] = value
        return json.dumps(head, ensure_ascii=False)


# ANSI colours of the level names (only on a terminal); any other level is written plain
_COLOURS = {"DEBUG": "36", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}


class TextFormatter(logging.Formatter):
    """``<ISO time> <LEVEL> <event> k=v ...``, exactly one line per record.

    Values are masked, then escaped, so that one record is one line whatever a child process wrote. A library's
    record becomes the event ``log`` with ``logger`` and ``message`` (its traceback escaped into the message), as in
    JSON. ``run_summary`` is shortened to what an operator reads (JSON keeps every field).
    """

    def __init__(self, mask: Mask = _unmasked, *, colour: bool = False) -> None:
        super().__init__()
        self._mask = mask
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        fields: Mapping[str, Any]
        if event is None:
            event = "log"
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + self.formatException(record.exc_info)
            fields = {"logger": record.name, "message": message}
        else:
            fields = getattr(record, "fields", {}) or {}
            if event == "run_summary":
                fields = text_summary(fields)
        masked = loggable(fields, self._mask)
        parts = " ".join(f"{escape(k)}={text_value(v)}" for k, v in masked.items())
        return f"{_iso(record.created)} {self._level(record.levelname)} {escape(event)} {parts}".rstrip()

    def _level(self, name: str) -> str:
        colour = _COLOURS.get(name) if self._colour else None
        return f"\x1b[{colour}m{name}\x1b[0m" if colour else escape(name)


def colour_wanted(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything non-empty."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without isatty, or a closed one
        return False


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose formatter masks every known secret in each value before the line is serialized."""

    def __init__(self, stream: TextIO, redactor: Redactor, *, fmt: str = "text") -> None:
        super().__init__(stream)
        self.redactor = redactor
        if fmt == "json":
            self.setFormatter(JsonFormatter(redactor.mask))
        else:
            self.setFormatter(TextFormatter(redactor.mask, colour=colour_wanted(stream)))


def configure(*, fmt: str, level: str, redactor: Redactor, stream: TextIO | None = None) -> None:
    """Install the one stderr handler of the process (JSON or text), redacting, at ``level``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RedactingHandler(stream or sys.stderr, redactor, fmt=fmt))
    root.setLevel(level)
    logging.getLogger("aetherflow").setLevel(level)
