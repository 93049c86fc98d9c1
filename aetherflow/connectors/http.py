"""HTTP(S) with urllib3 (``rest:http``, alias ``rest:httpx``): one request per call, bodies streamed.

The connector never loops: urllib3's own retries are off, and every failure is classified for the runner's retry
policy. Transient: refused/reset connections, timeouts, DNS failures, HTTP 5xx and 429, and the statuses in
``options.retry.on_status``. Permanent: other unexpected statuses, bad URLs, TLS verification failures, refused
redirects and URLs of another origin. The resource's ``retries`` (or ``retry.max_attempts``) becomes the default
step retry policy. Error messages show URLs without query string or user info, so tokens passed there never reach
logs.

Credentials stay with their origin (see ``_http_origin``): redirects are followed here, up to 10, and a hop to
another origin goes without them; https→http hops are refused; an absolute URL in ``path`` must have the origin of
``base_url`` unless ``options.allow_other_origins`` is true. ``timeout`` bounds the request up to the response
headers (connect, TLS, send, every redirect) and each read of the body; ``timeouts.body`` (default none) bounds the
whole body. Both are enforced by a ``Deadline`` that shuts the socket down, so a server dripping one byte at a time
cannot stretch them. A resource without ``base_url`` has no origin of its own: each request names its full URL.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit, urlunsplit

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Deadline, Interrupted, RetryPolicy
from aetherflow.booleans import bool_word, parse_lax_bool
from aetherflow.connectors import _http_origin as origins

DEFAULT_MAX_BODY_BYTES = 1_048_576
_CHUNK = 64 * 1024
_MAX_REDIRECTS = 10


#: a request body: bytes, or an open binary file streamed from its start (sent again from the start on a redirect)
Payload = bytes | BinaryIO | None


@dataclass(frozen=True, slots=True)
class _Call:
    """One request as sent first: what redirects start from."""

    method: str
    url: str
    shown: str  #: ``METHOD url`` without user info or query: what messages show
    payload: Payload
    headers: dict[str, str]
    seconds: float


class _Unset:
    """Marks an absent JSON body (``None`` is a valid JSON body: ``null``)."""


UNSET: Any = _Unset()


def safe_url(url: str) -> str:
    """``url`` without user info, query string or fragment: what error messages and logs may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class HttpConnector(Connector):
    """The ``rest`` connector: base URL, default headers and bearer token, TLS settings, timeouts, retry options."""

    config_keys = frozenset({"base_url", "headers", "bearer_token"})
    options_keys = frozenset({"timeout", "timeouts", "verify_ssl", "retries", "retry", "allow_other_origins", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        cfg, opts = init.config, init.options
        self.base_url, basic = origins.split_userinfo(str(cfg.get("base_url") or ""))
        headers = cfg.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' config.headers must be a mapping")
        self.headers = {str(k): "" if v is None else str(v) for k, v in headers.items()}
        token = cfg.get("bearer_token")
        self._bearer = None if token in (None, "") else str(token)
        self._basic = basic
        self.origin = origins.origin_of(self.base_url) if origins.is_absolute(self.base_url) else None
        self.allow_other_origins = parse_lax_bool(
            opts.get("allow_other_origins", False),
            where=f"REST resource '{self.name}' options.allow_other_origins",
            error=ConnectorError,
        )
        timeouts = opts.get("timeouts") or {}
        if not isinstance(timeouts, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' options.timeouts must be a mapping (total, body)")
        self.timeout = self._number(opts.get("timeout", timeouts.get("total", 30)), "options.timeout")
        body_timeout = timeouts.get("body")
        self.body_timeout = None if body_timeout is None else self._number(body_timeout, "options.timeouts.body")
        retry = opts.get("retry") or {}
        if not isinstance(retry, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' options.retry must be a mapping")
        self.retries = max(0, int(self._number(opts.get("retries", retry.get("max_attempts", 0)), "options.retries")))
        on_status = retry.get("on_status") or []
        if not isinstance(on_status, Iterable) or isinstance(on_status, (str, bytes)):
            raise ConnectorError(f"REST resource '{self.name}' options.retry.on_status must be a list of status codes")
        self.retry_on_status = frozenset(int(self._number(s, "options.retry.on_status")) for s in on_status)
        verify = opts.get("verify_ssl", True)
        if isinstance(verify, str) and (word := bool_word(verify)) is not None:
            verify = word
        self._verify: bool | str = verify if isinstance(verify, (bool, str)) else bool(verify)
        self._pool: Any = None
        if self._verify is False:
            init.ctx.emit("http_tls_unverified", level="WARNING", resource=self.name, base_url=safe_url(self.base_url))

    def _number(self, value: Any, what: str) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConnectorError(f"REST resource '{self.name}' {what} must be a number, got {value!r}") from None

    def default_retry(self) -> RetryPolicy | None:
        """``retries`` additional attempts for transient failures, backoff 1 s x2 capped at 5 s."""
        if self.retries <= 0:
            return None
        return RetryPolicy(
            max_attempts=self.retries + 1,
            backoff_seconds=1.0,
            factor=2.0,
            max_delay_seconds=5.0,
            transient_only=True,
        )

    def close(self) -> None:
        """Close pooled connections."""
        if self._pool is not None:
            self._pool.clear()
            self._pool = None

    # -- request ---------------------------------------------------------------------------------------------------
    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """``path`` appended to ``base_url`` (an absolute http(s) URL is used as is if it has the resource's origin,
        or ``allow_other_origins`` is set), plus query parameters."""
        if origins.is_absolute(path):
            self._check_origin(path)
            url = path
        elif not self.base_url:
            raise ConnectorError(
                f"REST resource '{self.name}' has no config.base_url, so the path must be an absolute "
                f"http(s):// URL (got '{path}')"
            )
        elif path:
            url = self.base_url.rstrip("/") + "/" + path.lstrip("/")
        else:
            url = self.base_url
        if params:
            pairs: list[tuple[str, str]] = []
            for key, value in params.items():
                values = value if isinstance(value, (list, tuple)) else [value]
                pairs.extend((str(key), _query_value(v)) for v in values if v is not None)
            if pairs:
                url += ("&" if "?" in url else "?") + urlencode(pairs)
        return url

    def _check_origin(self, url: str) -> None:
        # Without a base_url the resource has no origin of its own: every request names its URL explicitly.
        if self.origin is None or self.allow_other_origins:
            return
        other = origins.origin_of(url)
        if other != self.origin:
            raise ConnectorError(
                f"REST resource '{self.name}': the URL in path has the origin {origins.show_origin(other)}, not "
                f"{origins.show_origin(self.origin)} of config.base_url, and the resource's credentials stay with "
                "their origin; set options.allow_other_origins: true to send requests (and credentials) there"
            )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        json_body: Any = UNSET,
        data: Mapping[str, Any] | None = None,
        body: str | bytes | BinaryIO | None = None,
        timeout: float | None = None,
        expect_status: Iterable[int] | None = None,
        output: Path | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        cancelled: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Send one request; return ``{status_code, headers, elapsed_ms, bytes, body?, json?, output?}``.

        A status outside ``expect_status`` (default 200-299) raises ``HTTP <code> for <METHOD> <url>``. With
        ``output``, the body is streamed to ``<output>.tmp`` and renamed into place once complete. A ``body`` that is
        an open binary file is streamed (never read into memory) with its size as ``Content-Length``.
        """

        method = method.upper()
        url, basic = origins.split_userinfo(self.url_for(path, params))
        merged = self._headers(headers, basic)
        payload = _payload(json_body, data, body, merged)
        call = _Call(
            method,
            url,
            f"{method} {safe_url(url)}",
            payload,
            merged,
            self.timeout if timeout is None else float(timeout),
        )
        accepted = frozenset(expect_status) if expect_status is not None else None
        started = time.monotonic()
        try:
            response, status, (kept, total) = self._send(call, accepted, output, max_body_bytes, cancelled)
        except ConnectorError as exc:
            if exc.transient:
                # The runner's retry turns this into the final message once the attempts are used up.
                exc.after_retries = f"REST request failed after {{attempts}} attempt(s): {call.shown}"
            raise
        return _result(response, status, kept, total, output, started)

    def _send(
        self,
        call: _Call,
        accepted: frozenset[int] | None,
        output: Path | None,
        max_body_bytes: int,
        cancelled: CancelToken | None,
    ) -> tuple[Any, int, tuple[bytes | None, int]]:
        """The final response, its status and its body, all within the deadlines."""
        import urllib3

        with Deadline(call.seconds) as deadline:
            try:
                response = self._follow(call, deadline)
            except urllib3.exceptions.HTTPError as exc:
                raise self._failure(exc, call, deadline, reading_body=False) from None
            try:
                status = int(response.status)
                if (status not in accepted) if accepted is not None else not 200 <= status < 300:
                    response.close()  # unread: an error body can drip as slowly as any other
                    transient = status >= 500 or status == 429 or status in self.retry_on_status
                    raise ConnectorError(f"HTTP {status} for {call.shown}", transient=transient)
                deadline.restart(self.body_timeout)
                body = self._read_body(response, call.shown, output, max_body_bytes, cancelled, deadline)
            except urllib3.exceptions.HTTPError as exc:
                raise self._failure(exc, call, deadline, reading_body=True) from None
            finally:
                response.release_conn()
        return response, status, body

    def _follow(self, call: _Call, deadline: Deadline) -> Any:
        """Send ``call`` and follow its redirects; credentials go only to hops with the first URL's origin."""
        import urllib3

        first = origins.origin_of(call.url)
        url, method, payload, headers = call.url, call.method, call.payload, call.headers
        for _ in range(_MAX_REDIRECTS + 1):
            if payload is not None and not isinstance(payload, bytes):
                payload.seek(0)  # a hop that keeps the body sends all of it again
            with warnings.catch_warnings():
                if self._verify is False:
                    # Verification was turned off on purpose (and logged once); no warning per request.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                response = self._manager().urlopen(
                    method,
                    url,
                    body=payload,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=call.seconds, read=call.seconds),
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
            if deadline.expired:  # the headers may have been cut short: whatever arrived is not an answer
                response.close()
                response.release_conn()
                raise self._timeout(call.seconds, call.shown)
            location = response.get_redirect_location()
            if not location:
                return response
            status = int(response.status)
            response.close()  # the redirect's body is not needed
            response.release_conn()
            target = origins.redirect_target(url, location, resource=self.name)
            method, payload = origins.redirect_method(status, method, payload)
            headers = call.headers if payload is not None else origins.without_body_headers(call.headers)
            if origins.origin_of(target) != first:
                headers = self._withhold_credentials(headers, first, origins.origin_of(target))
            url = target
        raise ConnectorError(f"Too many redirects (>{_MAX_REDIRECTS}) for {call.shown} (resource '{self.name}')")

    def _withhold_credentials(
        self, headers: dict[str, str], first: origins.Origin, target: origins.Origin
    ) -> dict[str, str]:
        kept = origins.without_credentials(headers, self.headers)
        if len(kept) != len(headers):
            self.init.ctx.emit(
                "http_credentials_withheld",
                resource=self.name,
                origin=origins.show_origin(first),
                redirect_origin=origins.show_origin(target),
            )
        return kept

    def _failure(self, exc: BaseException, call: _Call, deadline: Deadline, *, reading_body: bool) -> ConnectorError:
        if deadline.expired:  # the watchdog shut the socket down: whatever urllib3 saw, the time was up
            if reading_body and self.body_timeout is not None:
                return self._timeout(self.body_timeout, f"reading the body of {call.shown}")
            return self._timeout(call.seconds, call.shown)
        return self._transport_error(exc, call.shown, call.seconds)

    def _read_body(
        self,
        response: Any,
        shown: str,
        output: Path | None,
        max_body_bytes: int,
        cancelled: CancelToken | None,
        deadline: Deadline,
    ) -> tuple[bytes | None, int]:
        """Stream the body (to ``output`` if given); return (body if it fits in ``max_body_bytes``, total size)."""
        kept: bytearray | None = bytearray()
        total = 0
        tmp = output.with_name(output.name + ".tmp") if output is not None else None
        sink = None
        try:
            if tmp is not None:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                sink = tmp.open("wb")
            for chunk in response.stream(_CHUNK, decode_content=True):
                if cancelled is not None and cancelled.is_set():
                    raise Interrupted(f"{shown} stopped: the step was cancelled")
                total += len(chunk)
                if sink is not None:
                    sink.write(chunk)
                if kept is not None:
                    if len(kept) + len(chunk) <= max_body_bytes:
                        kept.extend(chunk)
                    else:
                        kept = None  # too large to keep in the output; keep counting
            if deadline.expired:  # the watchdog cut the body short, which can look like its normal end
                raise self._timeout(self.body_timeout or 0.0, f"reading the body of {shown}")
            if sink is not None and tmp is not None and output is not None:
                sink.close()
                sink = None
                os.replace(tmp, output)
        finally:
            if sink is not None:
                sink.close()
            if tmp is not None and tmp.exists():
                tmp.unlink()
        return (bytes(kept) if kept is not None else None), total

    def _headers(self, extra: Mapping[str, Any] | None, basic: str | None) -> dict[str, str]:
        # Case-insensitive merge: a step's "content-type" replaces the resource's "Content-Type". An explicit
        # Authorization header wins over user info in the URL, which wins over the resource's own credentials.
        merged: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in self.headers.items()}
        for key, value in (extra or {}).items():
            merged[str(key).lower()] = (str(key), "" if value is None else str(value))
        if "authorization" not in merged:
            auth = basic or (f"Bearer {self._bearer}" if self._bearer else None) or self._basic
            if auth:
                merged["authorization"] = ("Authorization", auth)
        return dict(merged.values())

    def _manager(self) -> Any:
        if self._pool is None:
            from aetherflow.connectors._http_pool import pool_manager  # urllib3 loads with it

            self._pool = pool_manager(self._verify, self.name)
        return self._pool

    def _timeout(self, seconds: float, what: str) -> ConnectorError:
        return ConnectorError(f"Timed out after {seconds:g}s: {what} (resource '{self.name}')", transient=True)

    def _transport_error(self, exc: BaseException, shown: str, seconds: float) -> ConnectorError:
        import urllib3

        errors = urllib3.exceptions
        where = f"{shown} (resource '{self.name}')"
        if isinstance(exc, errors.LocationValueError):
            return ConnectorError(f"Invalid URL for {where}: {exc}")
        if isinstance(exc, errors.SSLError):
            cause = exc.args[0] if exc.args else exc
            if isinstance(cause, ssl.SSLCertVerificationError):
                return ConnectorError(
                    f"TLS certificate not trusted for {where}: {cause.verify_message}; "
                    "set options.verify_ssl to the CA bundle that signed it"
                )
            if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                return ConnectorError(f"TLS session dropped for {where}: {cause}", transient=True)
            return ConnectorError(f"TLS handshake failed for {where}: {cause}")
        if isinstance(exc, errors.NameResolutionError):
            return ConnectorError(f"Cannot resolve the host of {where}", transient=True)
        if isinstance(exc, errors.NewConnectionError):
            return ConnectorError(f"Connection refused or unreachable for {where}", transient=True)
        if isinstance(exc, errors.TimeoutError):
            return self._timeout(seconds, shown)
        if isinstance(exc, (errors.ProtocolError, errors.IncompleteRead, errors.InvalidChunkLength)):
            return ConnectorError(f"Connection dropped during {where}: {type(exc).__name__}", transient=True)
        if isinstance(exc, errors.DecodeError):
            return ConnectorError(f"Response body of {where} could not be decoded: {exc}")
        return ConnectorError(f"HTTP request failed: {where}: {type(exc).__name__}")


def _result(
    response: Any, status: int, kept: bytes | None, total: int, output: Path | None, started: float
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status_code": status,
        "headers": {name.lower(): response.headers[name] for name in response.headers},
        "elapsed_ms": round((time.monotonic() - started) * 1000),
        "bytes": total,
    }
    content_type = str(response.headers.get("content-type", ""))
    if kept is not None:
        text = kept.decode(_charset(content_type), "replace")
        if output is None:
            out["body"] = text
        if _is_json(content_type):
            try:
                out["json"] = json.loads(text)
            except ValueError:
                pass  # a JSON content type with a body that is not JSON: the body is still there
    if output is not None:
        out["output"] = str(output)
    return out


def _payload(
    json_body: Any, data: Mapping[str, Any] | None, body: str | bytes | BinaryIO | None, headers: dict[str, str]
) -> Payload:
    """Encode the request body and set its content type unless the caller set one."""
    has_type = any(k.lower() == "content-type" for k in headers)
    if not isinstance(json_body, _Unset):
        if not has_type:
            headers["Content-Type"] = "application/json"
        return json.dumps(json_body, ensure_ascii=False).encode("utf-8")
    if data is not None:
        if not has_type:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        pairs: list[tuple[str, str]] = []
        for key, value in data.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            pairs.extend((str(key), _query_value(v)) for v in values)
        return urlencode(pairs).encode("ascii")
    if body is not None:
        if isinstance(body, str):
            if not has_type:
                headers["Content-Type"] = "text/plain; charset=utf-8"
            return body.encode("utf-8")
        if not isinstance(body, bytes):
            # A file: urllib3 streams it in blocks; without a length it would switch to chunked encoding.
            headers = _set_length(headers, os.fstat(body.fileno()).st_size)
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        return body
    return None


def _set_length(headers: dict[str, str], size: int) -> dict[str, str]:
    for name in [k for k in headers if k.lower() == "content-length"]:
        del headers[name]
    headers["Content-Length"] = str(size)
    return headers


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip().strip('"')
            try:
                "".encode(charset)
            except LookupError:
                return "utf-8"
            return charset
    return "utf-8"


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", maxsplit=1)[0].strip().lower()
    return main == "application/json" or main.endswith("+json")
