"""Remote paths of the SMB connectors: which share, and which components inside it.

Accepted forms (as upstream's SMB drivers accept them): ``dir/file`` or ``/dir/file`` (``config.share``),
``SHARE:/dir/file`` (that share), ``C:\\dir\\file`` (drive letter dropped, ``config.share``) and
``\\\\server\\SHARE\\dir\\file`` (UNC; its server must be the resource's own, so credentials never go elsewhere).
Both separators are accepted. ``.`` components are dropped and ``..`` goes up, but never above the share root; names
the SMB protocol cannot carry (wildcards, ``:`` streams, control characters) are refused.

Only the standard library: connectors stay plugins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aetherflow.api import ConnectorError

_SEPARATORS = re.compile(r"[\\/]+")
_SHARE_PREFIX = re.compile(r"^([A-Za-z0-9_.$-]{2,}):(?:[\\/](.*))?$", re.DOTALL)
_DRIVE = re.compile(r"^[A-Za-z]:(?:[\\/]|$)")
_FORBIDDEN = re.compile(r'[\x00-\x1f*?<>|":]')


@dataclass(frozen=True, slots=True)
class SmbPath:
    """A location on a share: ``share`` and the path components below its root (none: the root itself)."""

    share: str
    parts: tuple[str, ...]

    def child(self, name: str) -> SmbPath:
        """The entry ``name`` inside this directory."""
        return SmbPath(self.share, (*self.parts, name))

    def parent(self) -> SmbPath:
        """The directory holding this entry (the root is its own parent)."""
        return SmbPath(self.share, self.parts[:-1])

    def with_name(self, name: str) -> SmbPath:
        """A sibling called ``name``."""
        return SmbPath(self.share, (*self.parts[:-1], name))

    @property
    def name(self) -> str:
        """The last component ('' for the root)."""
        return self.parts[-1] if self.parts else ""

    def inner(self, separator: str) -> str:
        """The path inside the share with ``separator`` between components (no leading separator)."""
        return separator.join(self.parts)

    def __str__(self) -> str:
        return f"{self.share}:/{self.inner('/')}"


def parse_smb_path(raw: str, *, default_share: str | None, server: str) -> SmbPath:
    """The share and components ``raw`` names; ``ConnectorError`` (permanent) when it is not a usable path."""
    text = str(raw).strip()
    share = default_share or None
    if text.startswith(("\\\\", "//")):
        pieces = [p for p in _SEPARATORS.split(text) if p]
        if len(pieces) < 2:
            raise ConnectorError(f"SMB path '{raw}' names a server but no share (\\\\server\\share\\path)")
        if pieces[0].lower() != server.lower():
            raise ConnectorError(f"SMB path '{raw}' is on server '{pieces[0]}', not this resource's '{server}'")
        share, rest = pieces[1], pieces[2:]
    else:
        prefix = _SHARE_PREFIX.match(text)
        if prefix:
            share, text = prefix.group(1), prefix.group(2) or ""
        elif _DRIVE.match(text):
            text = text[2:]
        rest = [p for p in _SEPARATORS.split(text) if p]
    if not share:
        raise ConnectorError(f"SMB path '{raw}' needs a share: set config.share or write 'SHARE:/path'")
    if _FORBIDDEN.search(share) or share in (".", ".."):
        raise ConnectorError(f"SMB path '{raw}': invalid share name '{share}'")
    return SmbPath(share, _normalized(raw, rest))


def _normalized(raw: str, pieces: list[str]) -> tuple[str, ...]:
    parts: list[str] = []
    for piece in pieces:
        if piece == ".":
            continue
        if piece == "..":
            if not parts:
                raise ConnectorError(f"SMB path '{raw}' escapes the share root")
            parts.pop()
            continue
        if _FORBIDDEN.search(piece):
            raise ConnectorError(f"SMB path '{raw}': component {piece!r} has a character SMB names cannot hold")
        parts.append(piece)
    return tuple(parts)


def join_remote(remote_dir: str, rel: str) -> str:
    """``remote_dir`` + ``/`` + ``rel`` in the caller's own form, so listed paths feed download/delete unchanged."""
    base = remote_dir.rstrip("/\\")
    return f"{base}/{rel}" if base else rel
