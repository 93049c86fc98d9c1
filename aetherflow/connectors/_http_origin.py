"""Where the credentials of a ``rest`` resource may go: its origin (scheme, host, port) and nowhere else.

The credentials are the bearer token, Basic credentials (user info in the URL) and the resource's headers, plus any
``Authorization``, ``Proxy-Authorization`` or ``Cookie`` header and any header whose name says it carries a secret
(``X-Api-Key``, ``X-Auth-Token`` ...). A redirect to another origin is followed without them; a redirect from https
to http is refused outright (the request itself would travel in cleartext). Messages name origins only: never a
path, a query string or user info.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from aetherflow.api import ConnectorError

Origin = tuple[str, str, int]
B = TypeVar("B")  #: a request body (bytes, or a file streamed from its start)

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: header names that always carry credentials
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
#: words in a header name that say it carries a secret
_SECRET_WORDS = ("auth", "token", "key", "secret", "password", "passwd", "credential", "session", "cookie")
#: on a redirect that turns the request into a GET, these describe a body that is no longer sent
_BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "transfer-encoding"})


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of an absolute URL, lower-cased, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ConnectorError(f"Invalid port in URL {show_origin((scheme, parts.hostname or '', 0))}") from None
    return scheme, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def show_origin(origin: Origin) -> str:
    """``scheme://host:port`` (IPv6 hosts in brackets): what messages may show."""
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def is_absolute(url: str) -> bool:
    """True for an ``http://`` or ``https://`` URL."""
    return url.lower().startswith(("http://", "https://"))


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@`` and the ``Basic`` header value those make (None without user info)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    user, password = unquote(parts.username), unquote(parts.password or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), f"Basic {token}"


def is_credential_header(name: str, resource_headers: Iterable[str]) -> bool:
    """True when a header carries credentials: a resource header, or a credential/secret-named one."""
    lowered = name.lower()
    if lowered in _CREDENTIAL_HEADERS or lowered in {h.lower() for h in resource_headers}:
        return True
    return any(word in lowered for word in _SECRET_WORDS)


def without_credentials(headers: Mapping[str, str], resource_headers: Iterable[str]) -> dict[str, str]:
    """``headers`` minus every credential header (what a redirect to another origin receives)."""
    names = list(resource_headers)
    return {k: v for k, v in headers.items() if not is_credential_header(k, names)}


def redirect_target(current: str, location: str, *, resource: str) -> str:
    """The absolute URL a ``Location`` points to; permanent error for a non-http(s) URL or an https→http hop."""
    target = urljoin(current, location.strip())
    if not is_absolute(target):
        raise ConnectorError(
            f"Redirect from {show_origin(origin_of(current))} to a non-http(s) URL refused (resource '{resource}')"
        )
    before, after = origin_of(current), origin_of(target)
    if before[0] == "https" and after[0] == "http":
        raise ConnectorError(
            f"Redirect from {show_origin(before)} to {show_origin(after)} refused: https to http would send the "
            f"request in cleartext (resource '{resource}')"
        )
    return target


def redirect_method(status: int, method: str, body: B | None) -> tuple[str, B | None]:
    """Method and body of the next hop: 303 (and 301/302 after a POST) become a GET without body, as browsers do."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", None
    return method, body


def without_body_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` minus those that describe a request body."""
    return {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
