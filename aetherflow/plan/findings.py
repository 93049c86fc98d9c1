"""Where validation collects what it finds: errors and warnings in the order found, each reported once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aetherflow.errors import Issue
from aetherflow.spec.load import YamlDocument


@dataclass(frozen=True)
class Finding:
    """One problem a rule found, before it is recorded: code, dotted location, message and YAML path."""

    code: str
    loc: str
    msg: str
    path: tuple[Any, ...]


class Recorder:
    """The errors and warnings of one validation run; the same (kind, code, loc, msg) is recorded once."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self._seen: set[tuple[bool, str, str, str]] = set()
        #: the flow document, once parsed: YAML paths are turned into its line numbers
        self.doc: YamlDocument = YamlDocument(data={})

    def error(self, code: str, loc: str, msg: str, path: tuple[Any, ...] | None = None) -> None:
        self.add(True, Issue(code, loc, msg, line=self._line(path)))

    def warn(self, code: str, loc: str, msg: str, path: tuple[Any, ...] | None = None) -> None:
        self.add(False, Issue(code, loc, msg, line=self._line(path)))

    def found(self, finding: Finding) -> None:
        """Record ``finding`` as an error."""
        self.error(finding.code, finding.loc, finding.msg, finding.path)

    def add(self, is_error: bool, issue: Issue) -> None:
        key = (is_error, issue.code, issue.loc, issue.msg)
        if key in self._seen:
            return
        self._seen.add(key)
        (self.errors if is_error else self.warnings).append(issue)

    def _line(self, path: tuple[Any, ...] | None) -> int | None:
        return self.doc.line_of(path) if path is not None else None


def one_line(issue: Issue) -> Issue:
    """Records are one line (docs/reference/error-codes.md): a line break in a key or value is shown as ``\\n``."""
    text = issue.loc + issue.msg
    if "\n" not in text and "\r" not in text:
        return issue
    return dataclasses.replace(issue, loc=_escape_breaks(issue.loc), msg=_escape_breaks(issue.msg))


def _escape_breaks(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
