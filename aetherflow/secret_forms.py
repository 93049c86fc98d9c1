"""The secret parts hidden inside ordinary values: URL passwords, secret query parameters, auth header credentials.

Pure functions over strings; the ``Redactor`` decides what to register. A value such as
``postgresql://etl:PW@host/db`` is not secret as a whole (the host is useful in logs) but its password is, and so is
the ``Authorization: Basic`` form a client builds from it, so both are derived here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import unquote, unquote_plus

__all__ = ["AUTH_HEADERS", "basic_forms", "credential_forms", "is_registrable", "pem_body_lines", "url_secrets"]

#: header names whose values are credentials whatever the secret patterns say
AUTH_HEADERS: Final = frozenset({"AUTHORIZATION", "PROXY-AUTHORIZATION", "PROXY_AUTHORIZATION"})
#: words that are never secrets: masking them would corrupt every boolean or null in a log line
_PLAIN_WORDS: Final = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "undefined"})
_MIN_LEN: Final = 4
_MIN_DIGITS_LEN: Final = 8

# scheme://userinfo@host: the userinfo runs to the last '@' of the authority (as urllib splits it), so a password
# with an unencoded '@' is still found whole
_URL_USERINFO: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://([^/?#\s]*)@")
_QUERY_PARAM: Final = re.compile(r"[?&;]([^=&;#\s]+)=([^&;#\s]*)")
_ARMOR: Final = re.compile(r"^-----(BEGIN|END) [^-]*-----$")
_SCHEME_TOKEN: Final = re.compile(r"^\s*([A-Za-z][A-Za-z0-9._~+\-]*)\s+(\S.*?)\s*$", re.DOTALL)


def is_registrable(value: str) -> bool:
    """False for the values the contract never masks: booleans, null words, short values, short digit strings."""
    stripped = value.strip()
    if len(stripped) < _MIN_LEN or stripped.lower() in _PLAIN_WORDS:
        return False
    return not (stripped.isdigit() and len(stripped) < _MIN_DIGITS_LEN)


def url_secrets(text: str, is_secret_name: Callable[[str], bool]) -> Iterator[str]:
    """URL passwords (as written and decoded), their ``user:password`` base64, and secret-named query values."""
    for match in _URL_USERINFO.finditer(text):
        user, sep, password = match.group(1).partition(":")
        if not sep or not password:
            continue
        yield password
        yield unquote(password)
        yield from basic_forms(unquote(user), unquote(password))
    if "=" in text:
        for match in _QUERY_PARAM.finditer(text):
            name, value = match.group(1), match.group(2)
            if value and is_secret_name(unquote_plus(name)):
                yield value
                yield unquote_plus(value)


def basic_forms(user: str, password: str) -> Iterator[str]:
    """The base64 of ``user:password`` (what HTTP basic auth and Pushgateway clients send)."""
    yield base64.b64encode(f"{user}:{password}".encode()).decode()


def credential_forms(value: str) -> Iterator[str]:
    """An auth header value's credentials: the token after the scheme and, for ``Basic``, the decoded password."""
    match = _SCHEME_TOKEN.match(value)
    if match is None:
        return
    scheme, token = match.group(1), match.group(2)
    yield token
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return
    yield decoded
    _user, sep, password = decoded.partition(":")
    if sep:
        yield password


def pem_body_lines(value: str) -> Iterator[str]:
    """The lines of a multi-line secret without the ``-----BEGIN/END …-----`` armor (each is masked on its own)."""
    for line in value.splitlines():
        stripped = line.strip()
        if stripped and not _ARMOR.match(stripped):
            yield stripped
