"""Where the state lives: an SQLite file or a PostgreSQL URL, and how a location is shown without its password.

A location is either a ``Path`` (SQLite) or the text of a ``postgresql://`` URL. ``sqlite:///PATH`` URLs become the
path they name (``sqlite:////abs/path.db``, ``sqlite:///relative.db``). Nothing here connects; ``open_store`` and
``open_lock_backend`` pick the backend.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aetherflow.errors import StateInputError

#: a location: the SQLite database file, or a PostgreSQL URL
Location = Path | str

_PG_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_PREFIX = "sqlite:///"


def is_postgres(location: Location | None) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(location, str) and location.lower().startswith(_PG_SCHEMES)


def is_url(text: str) -> bool:
    """True when ``text`` is a URL rather than a path (``scheme://``)."""
    return "://" in text and text.split("://", 1)[0].isidentifier()


def parse_state_url(text: str, *, source: str) -> Location:
    """A state URL (``postgresql://…`` or ``sqlite:///PATH``) as a location; anything else is refused (exit 2)."""
    if is_postgres(text):
        parts = urlsplit(text)
        if not parts.hostname and "host=" not in parts.query:
            raise StateInputError(f"{source}: a PostgreSQL state URL needs a host ({redact_url(text)})")
        return text
    if text.lower().startswith(_SQLITE_PREFIX):
        # as SQLAlchemy reads it: what follows the third slash, so sqlite:////var/x.db is absolute, sqlite:///x.db not
        path = text[len(_SQLITE_PREFIX) :]
        if path in ("", "/"):
            raise StateInputError(f"{source}: sqlite:/// needs a database path")
        return Path(path)
    raise StateInputError(
        f"{source}: unsupported state URL {redact_url(text)}; use postgresql://USER@HOST/DB or sqlite:///PATH"
    )


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
        query = "&".join(
            ("password=***" if item.lower().startswith("password=") else item) for item in parts.query.split("&")
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "postgresql://***"


def describe(location: Location) -> str:
    """How messages name a location: the path, or the URL without its password."""
    return redact_url(location) if isinstance(location, str) else str(location)
