"""HTTP(S) with urllib3 (``rest:http``, alias ``rest:httpx``): one request per call, bodies streamed.

The connector never loops: urllib3's own retries are off (redirects are still followed), and every failure is
classified for the runner's retry policy. Transient: refused/reset connections, timeouts, DNS failures, HTTP 5xx and
429, and the statuses in ``options.retry.on_status``. Permanent: other unexpected statuses, bad URLs, TLS
verification failures. The resource's ``retries`` (or ``retry.max_attempts``) becomes the default step retry policy.
Error messages show URLs without query string or user info, so tokens passed there never reach logs.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Interrupted, RetryPolicy

DEFAULT_MAX_BODY_BYTES = 1_048_576
_CHUNK = 64 * 1024
_MAX_REDIRECTS = 10
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


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
    options_keys = frozenset({"timeout", "timeouts", "verify_ssl", "retries", "retry", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        cfg, opts = init.config, init.options
        self.base_url = str(cfg.get("base_url") or "")
        headers = cfg.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' config.headers must be a mapping")
        self.headers = {str(k): "" if v is None else str(v) for k, v in headers.items()}
        token = cfg.get("bearer_token")
        self._bearer = None if token in (None, "") else str(token)
        timeouts = opts.get("timeouts") or {}
        if not isinstance(timeouts, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' options.timeouts must be a mapping (total)")
        self.timeout = self._number(opts.get("timeout", timeouts.get("total", 30)), "options.timeout")
        retry = opts.get("retry") or {}
        if not isinstance(retry, Mapping):
            raise ConnectorError(f"REST resource '{self.name}' options.retry must be a mapping")
        self.retries = max(0, int(self._number(opts.get("retries", retry.get("max_attempts", 0)), "options.retries")))
        on_status = retry.get("on_status") or []
        if not isinstance(on_status, Iterable) or isinstance(on_status, (str, bytes)):
            raise ConnectorError(f"REST resource '{self.name}' options.retry.on_status must be a list of status codes")
        self.retry_on_status = frozenset(int(self._number(s, "options.retry.on_status")) for s in on_status)
        verify = opts.get("verify_ssl", True)
        if isinstance(verify, str) and verify.strip().lower() in _TRUE | _FALSE:
            verify = verify.strip().lower() in _TRUE
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
        """``path`` appended to ``base_url`` (an absolute http(s) URL is used as is), plus query parameters."""
        if path.lower().startswith(("http://", "https://")):
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

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        json_body: Any = UNSET,
        data: Mapping[str, Any] | None = None,
        body: str | bytes | None = None,
        timeout: float | None = None,
        expect_status: Iterable[int] | None = None,
        output: Path | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        cancelled: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Send one request; return ``{status_code, headers, elapsed_ms, bytes, body?, json?, output?}``.

        A status outside ``expect_status`` (default 200-299) raises ``HTTP <code> for <METHOD> <url>``. With
        ``output``, the body is streamed to ``<output>.tmp`` and renamed into place once complete.
        """

        method = method.upper()
        url = self.url_for(path, params)
        shown = f"{method} {safe_url(url)}"
        merged = self._headers(headers)
        payload = _payload(json_body, data, body, merged)
        seconds = self.timeout if timeout is None else float(timeout)
        accepted = frozenset(expect_status) if expect_status is not None else None
        started = time.monotonic()
        try:
            return self._send(
                method, url, shown, payload, merged, seconds, accepted, output, max_body_bytes, cancelled, started
            )
        except ConnectorError as exc:
            if exc.transient:
                # The runner's retry turns this into the final message once the attempts are used up.
                exc.after_retries = f"REST request failed after {{attempts}} attempt(s): {shown}"
            raise

    def _send(
        self,
        method: str,
        url: str,
        shown: str,
        payload: Any,
        merged: dict[str, str],
        seconds: float,
        accepted: frozenset[int] | None,
        output: Path | None,
        max_body_bytes: int,
        cancelled: CancelToken | None,
        started: float,
    ) -> dict[str, Any]:
        import urllib3

        try:
            with warnings.catch_warnings():
                if self._verify is False:
                    # Verification was turned off on purpose (and logged once); no warning per request.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                response = self._manager().request(
                    method,
                    url,
                    body=payload,
                    headers=merged,
                    timeout=urllib3.Timeout(connect=seconds, read=seconds),
                    retries=urllib3.Retry(
                        total=None,
                        connect=0,
                        read=0,
                        status=0,
                        other=0,
                        redirect=_MAX_REDIRECTS,
                        raise_on_redirect=True,
                        raise_on_status=False,
                        respect_retry_after_header=False,
                    ),
                    preload_content=False,
                )
        except urllib3.exceptions.MaxRetryError as exc:
            raise self._transport_error(exc.reason or exc, shown, seconds) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._transport_error(exc, shown, seconds) from None
        try:
            status = int(response.status)
            if (status not in accepted) if accepted is not None else not 200 <= status < 300:
                response.drain_conn()
                transient = status >= 500 or status == 429 or status in self.retry_on_status
                raise ConnectorError(f"HTTP {status} for {shown}", transient=transient)
            result = self._read_body(response, shown, seconds, output, max_body_bytes, cancelled)
        except urllib3.exceptions.HTTPError as exc:
            raise self._transport_error(exc, shown, seconds) from None
        finally:
            response.release_conn()
        kept, total = result
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

    def _read_body(
        self,
        response: Any,
        shown: str,
        seconds: float,
        output: Path | None,
        max_body_bytes: int,
        cancelled: CancelToken | None,
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

    def _headers(self, extra: Mapping[str, Any] | None) -> dict[str, str]:
        # Case-insensitive merge: a step's "content-type" replaces the resource's "Content-Type".
        merged: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in self.headers.items()}
        for key, value in (extra or {}).items():
            merged[str(key).lower()] = (str(key), "" if value is None else str(value))
        if self._bearer and "authorization" not in merged:
            merged["authorization"] = ("Authorization", f"Bearer {self._bearer}")
        return dict(merged.values())

    def _manager(self) -> Any:
        if self._pool is None:
            import urllib3

            if self._verify is False:
                self._pool = urllib3.PoolManager(num_pools=8, maxsize=8, cert_reqs="CERT_NONE")
            elif isinstance(self._verify, str) and self._verify:
                if not Path(self._verify).is_file():
                    raise ConnectorError(
                        f"REST resource '{self.name}': options.verify_ssl CA bundle not found: {self._verify}"
                    )
                self._pool = urllib3.PoolManager(
                    num_pools=8, maxsize=8, cert_reqs="CERT_REQUIRED", ca_certs=self._verify
                )
            else:
                self._pool = urllib3.PoolManager(num_pools=8, maxsize=8, cert_reqs="CERT_REQUIRED")
        return self._pool

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
            return ConnectorError(f"Timed out after {seconds:g}s: {where}", transient=True)
        if isinstance(exc, (errors.ProtocolError, errors.IncompleteRead, errors.InvalidChunkLength)):
            return ConnectorError(f"Connection dropped during {where}: {type(exc).__name__}", transient=True)
        if isinstance(exc, errors.ResponseError):
            return ConnectorError(f"Too many redirects (>{_MAX_REDIRECTS}) for {where}")
        if isinstance(exc, errors.DecodeError):
            return ConnectorError(f"Response body of {where} could not be decoded: {exc}")
        return ConnectorError(f"HTTP request failed: {where}: {type(exc).__name__}")


def _payload(json_body: Any, data: Mapping[str, Any] | None, body: str | bytes | None, headers: dict[str, str]) -> Any:
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
        return body
    return None


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
