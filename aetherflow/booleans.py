"""The one lax boolean parser: connector options, env-file entries and the text forms settings accept.

The accepted words are pydantic's (which reads settings and step inputs), so a value means the same wherever it is
written: ``true/false``, ``yes/no``, ``on/off``, ``t/f``, ``y/n``, ``1/0`` in any ASCII case, surrounding whitespace
ignored (settings strip their text before parsing), and the numbers 0 and 1. Anything else is refused, never guessed:
``"1.0"``, ``"2"``, a NUL, inner spaces, look-alike letters from other scripts. The flow document itself stays on
strict YAML booleans (its schema takes only real ``true``/``false``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aetherflow.errors import InvalidValue

TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "on", "1"})
FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "off", "0"})


class NotABoolean(InvalidValue):
    """A value that should be a boolean is not one of the accepted forms (permanent: it will not become one)."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.where = where


def bool_word(text: str) -> bool | None:
    """The boolean a text spells, or None when it spells none (a CA bundle path, a typo)."""
    word = text.strip()
    # ASCII only: str.lower() would fold look-alikes from other scripts into Latin letters
    if not word.isascii():
        return None
    word = word.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_lax_bool(value: object, *, where: str, error: Callable[[str], Exception] | None = None) -> bool:
    """``value`` as a boolean, or raise naming ``where`` (a YAML path such as ``options.verify_ssl``).

    ``error`` builds the caller's own error type from the message (a connector raises ``ConnectorError``, an env-file
    entry an ``InputError`` with its location); the default is ``NotABoolean``.
    """
    if isinstance(value, bool):
        return value
    found: bool | None = None
    if isinstance(value, int | float) and value in (0, 1):
        found = bool(value)
    elif isinstance(value, str):
        found = bool_word(value)
    if found is not None:
        return found
    message = f"{where} must be a boolean (true/false, yes/no, on/off, 1/0), got {_shown(value)}"
    raise error(message) if error is not None else NotABoolean(message, where=where)


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str | int | float) or value is None else f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."
