"""Downloading a bundle archive over http(s): no https→http redirect, a size cap, an optional sha256 pin.

A bundle carries plugins (code the runner imports), so what arrives must be what was meant: a redirect that drops
TLS is refused, a body over ``bundle.source.max_mb`` is stopped while it streams (a ``Content-Length`` over the cap
before a byte is read), and a pinned ``bundle.source.sha256`` that does not match fails the sync for good.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.request
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from aetherflow.bundles.cache import BlobStore
from aetherflow.bundles.sources import SourceError, SourceRefused, safe_url

__all__ = ["check_pin", "download_archive"]

_CHUNK = 1 << 20
_MIB = 1 << 20


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to anything but https."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if urlsplit(req.full_url).scheme == "https" and urlsplit(newurl).scheme != "https":
            raise SourceRefused(
                f"archive download refused a redirect from https to {urlsplit(newurl).scheme or 'a relative'} URL: "
                f"{safe_url(req.full_url)} -> {safe_url(newurl)}"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_pin(sha256: str, pin: str | None, what: str) -> None:
    """A pinned sha256 must match (case-insensitive); a mismatch is permanent."""
    if pin and sha256.lower() != pin.lower():
        raise SourceRefused(f"{what} does not match bundle.source.sha256 (pinned {pin.lower()}, got {sha256})")


def download_archive(url: str, blobs: BlobStore, *, max_mb: float, timeout: float) -> tuple[str, int]:
    """Stream ``url`` into the blob store; return (sha256, size). Raises ``SourceRefused`` / ``SourceError``."""
    import urllib.error

    shown = safe_url(url)
    limit = int(max_mb * _MIB)
    opener = urllib.request.build_opener(_NoDowngrade())
    try:
        with opener.open(url, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _too_large(shown, max_mb, f"Content-Length {declared}")
            return _stream(response, blobs, limit, shown, max_mb)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"archive download failed: HTTP {exc.code} for GET {shown}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"archive download failed for GET {shown}: {reason}") from None


def _stream(response: IO[bytes], blobs: BlobStore, limit: int, shown: str, max_mb: float) -> tuple[str, int]:
    tmp: Path = blobs.temp_path()
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(shown, max_mb, f"more than {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
        return blobs.add(tmp, expect_sha256=digest.hexdigest(), what=shown)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _too_large(shown: str, max_mb: float, seen: str) -> SourceRefused:
    return SourceRefused(f"archive download from {shown} is larger than bundle.source.max_mb {max_mb:g} ({seen})")
