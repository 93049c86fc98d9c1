"""Log formatting (JSON or text), the redaction filter, and ``configure()`` (called only by the edge).

Events arrive as log records whose ``event`` attribute names them and whose ``fields`` attribute holds their data;
any other record (a library's) is rendered as a plain ``log`` record.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from aetherflow.redaction import Redactor


def _iso(ts: float) -> str:
    ms = round(ts * 1000)
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts_ms, event, level, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        head: dict[str, Any] = {"ts_ms": int(record.created * 1000)}
        if event is None:
            head.update(event="log", level=record.levelname, logger=record.name, message=record.getMessage())
            if record.exc_info:
                head["message"] += "\n" + self.formatException(record.exc_info)
        else:
            head.update(event=event, level=record.levelname)
            fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
            for key, value in fields.items():
                if key not in head:
                    head[key] = value
        return json.dumps(head, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``<ISO time> <LEVEL> <event> k=v ...``; library records as ``<ISO time> <LEVEL> <logger>: <message>``."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        ts = _iso(record.created)
        if event is None:
            text = f"{ts} {record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
            return text
        fields: Mapping[str, Any] = getattr(record, "fields", {}) or {}
        parts = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{ts} {record.levelname} {event} {parts}".rstrip()


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that masks every known secret in the final line (message, fields, tracebacks)."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        super().__init__(stream)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.mask(super().format(record))


def configure(*, fmt: str, level: str, redactor: Redactor, stream: TextIO | None = None) -> None:
    """Install the one stderr handler of the process (JSON or text), redacting, at ``level``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = RedactingHandler(stream or sys.stderr, redactor)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aetherflow").setLevel(level)
