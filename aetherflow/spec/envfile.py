"""Reading env files: the bytes of one file checked and decoded, and the one ``dotenv`` parser for every source.

The parser is hand-written on purpose. python-dotenv decodes escapes inside double quotes, expands ``${VAR}``, treats
`` #`` after a value as a comment and accepts multi-line quoted values; the env-file contract is simpler and stays
compatible with the upstream runner: ``KEY=VALUE`` lines, an optional ``export `` prefix, one pair of matching quotes
stripped with the content kept literally, ``#`` a comment only at the start of a line, no expansion.

Errors name the file and the line, never a value: env files hold secrets.
"""

from __future__ import annotations

from typing import Final

from aetherflow.errors import InputError

__all__ = ["MAX_ENV_FILE_BYTES", "parse_dotenv", "read_env_text"]

# A Kubernetes Secret holds at most 1 MiB; a larger env file is a mistake, and reading it whole would cost memory.
MAX_ENV_FILE_BYTES: Final = 1024 * 1024
_BLANKS: Final = " \t"
_EXPORT: Final = "export"
_QUOTES: Final = "\"'"


def read_env_text(path: str, *, loc: str) -> str:
    """The UTF-8 text of an env file, or InputError for a file that is unreadable, too large, holds a NUL byte or is
    not UTF-8 (the last two with the line, since neither can ever be an environment value)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_ENV_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"Env file not readable: {path}: {exc.strerror or type(exc).__name__}", loc=loc) from None
    if len(raw) > MAX_ENV_FILE_BYTES:
        raise InputError(f"Env file {path} is larger than {MAX_ENV_FILE_BYTES} bytes (1 MiB)", loc=loc)
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(f"Env file {path} line {_line_of(raw, nul)}: contains a NUL byte", loc=loc)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"Env file {path} line {_line_of(raw, exc.start)}: not valid UTF-8", loc=loc) from None


def parse_dotenv(text: str, *, path: str, loc: str) -> dict[str, str]:
    """The pairs of a ``dotenv`` file, later lines winning; InputError (file and line) for a line with an empty key
    or a key with a blank inside. Lines without ``=`` are skipped, as upstream."""
    values: dict[str, str] = {}
    # Only "\n" (and a "\r" before it) ends a line: str.splitlines() would also split a value at U+2028, \x0c, \x85.
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.removesuffix("\r").strip(_BLANKS)
        if not line or line.startswith("#"):
            continue
        line = _without_export(line)
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip(_BLANKS)
        if not key:
            raise InputError(f"Env file {path} line {number}: a key is missing before '='", loc=loc)
        if any(blank in key for blank in _BLANKS):
            raise InputError(f"Env file {path} line {number}: a key cannot contain spaces or tabs", loc=loc)
        values[key] = _unquoted(value.strip(_BLANKS))
    return values


def _without_export(line: str) -> str:
    """``export KEY=v`` (a shell-sourced file) is ``KEY=v``; a key named ``export`` (``export=v``, ``export =v``)
    stays a key."""
    if line.startswith(_EXPORT) and line[len(_EXPORT) : len(_EXPORT) + 1] in (" ", "\t"):
        rest = line[len(_EXPORT) :].lstrip(_BLANKS)
        if not rest.startswith("="):
            return rest
    return line


def _unquoted(value: str) -> str:
    """One pair of matching surrounding quotes removed; the content is literal (no escapes, no expansion)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        return value[1:-1]
    return value


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1
