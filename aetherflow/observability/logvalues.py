"""Log field values made safe to serialize: masked before serialization, and escaped for text lines.

Masking happens on each string value, never on the serialized line: a secret that contains a quote or a
backslash would otherwise survive in its escaped form, and masking a line could break its JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["escape", "loggable", "text_value"]

#: deeper values are not walked (a hostile or cyclic structure must not crash the logger)
_MAX_DEPTH: Final = 32
_TOO_DEEP: Final = "<nested too deep>"

_ESCAPES: Final = {"\n": "\\n", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
# every character that is escaped: the four above, the other C0 controls, DEL, C1 controls, and the two Unicode
# line separators some viewers break lines at
_ESCAPED: Final = re.compile('[\\x00-\\x1f"\\\\\\x7f-\\x9f\u2028\u2029]')
# a value is quoted when it has a space, a quote, '=' or any escaped character
_QUOTED: Final = re.compile('[\\s"=\\\\\\x00-\\x1f\\x7f-\\x9f\u2028\u2029]')


def loggable(value: Any, mask: Callable[[str], str], depth: int = 0) -> Any:
    """A JSON-native copy of ``value`` with every string (and mapping key) masked; other objects become strings."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN/Infinity are not JSON
    if depth >= _MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return {mask(str(k)): loggable(v, mask, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [loggable(v, mask, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return mask(bytes(value).decode("utf-8", errors="replace"))
    return mask(str(value))


def escape(text: str) -> str:
    """``text`` on one line: newline, tab, quote and backslash escaped with a backslash, other control characters
    as ``\\xNN``, U+2028/U+2029 as ``\\uNNNN``."""
    return _ESCAPED.sub(_escape_char, text)


def text_value(value: Any) -> str:
    """A field value as written in a text log line (after ``loggable``): ``null`` for None, quoted when needed."""
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    if text and not _QUOTED.search(text):
        return text
    return f'"{escape(text)}"'


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"
