"""Amazon S3 and S3-compatible stores with boto3 (``s3:boto3``): list, download, upload (multipart), delete.

Credentials come from ``config`` when given, else from boto3's default chain (environment, profile, instance or pod
role). botocore retries throttling and 5xx internally (``options.retries.max_attempts``, standard mode); what still
fails becomes ``ConnectorError``: transient for timeouts, dropped connections, 5xx and throttling, permanent for
missing buckets/keys, denied access and bad credentials. Files over 8 MiB go up as multipart uploads of 8 MiB parts;
a failed or cancelled multipart upload is aborted (s3transfer's cleanup), so no object appears under the key.
"""

from __future__ import annotations

import contextlib
import fnmatch
import mimetypes
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aetherflow.api import CancelToken, Connector, ConnectorError, ConnectorInit, Interrupted
from aetherflow.booleans import bool_word
from aetherflow.connectors._files import replaced_when_done

MULTIPART_CHUNK = 8 * 1024 * 1024
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
    }
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)

Progress = Callable[[int], None]


def s3_uri(bucket: str, key: str) -> str:
    """``s3://<bucket>/<key>``."""
    return f"s3://{bucket}/{key}"


class Boto3S3Connector(Connector):
    """The ``s3:boto3`` connector. The boto3 client is created on first use and shared by threads."""

    config_keys = frozenset({"bucket", "region", "endpoint_url", "access_key_id", "secret_access_key", "session_token"})
    options_keys = frozenset({"addressing_style", "verify_ssl", "retries", "connect_timeout", "read_timeout", "cache"})

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        cfg, opts = init.config, init.options
        self.default_bucket = str(cfg.get("bucket") or "") or None
        self.region = str(cfg.get("region") or "") or None
        self.endpoint_url = str(cfg.get("endpoint_url") or "") or None
        self._access_key = str(cfg.get("access_key_id") or "") or None
        self._secret_key = str(cfg.get("secret_access_key") or "") or None
        self._session_token = str(cfg.get("session_token") or "") or None
        if (self._access_key is None) != (self._secret_key is None):
            raise ConnectorError(
                f"S3 resource '{self.name}' needs both config.access_key_id and config.secret_access_key "
                "(or neither, to use the default AWS credential chain)"
            )
        style = str(opts.get("addressing_style", "auto"))
        if style not in ("auto", "path", "virtual"):
            raise ConnectorError(
                f"S3 resource '{self.name}' options.addressing_style must be auto, path or virtual, got '{style}'"
            )
        self.addressing_style = style
        retries = opts.get("retries") or {}
        if not isinstance(retries, Mapping):
            raise ConnectorError(f"S3 resource '{self.name}' options.retries must be a mapping (max_attempts)")
        self.max_attempts = self._int(retries.get("max_attempts", 3), "options.retries.max_attempts")
        self.connect_timeout = float(self._int(opts.get("connect_timeout", 10), "options.connect_timeout"))
        self.read_timeout = float(self._int(opts.get("read_timeout", 60), "options.read_timeout"))
        verify = opts.get("verify_ssl", True)
        if isinstance(verify, str) and (word := bool_word(verify)) is not None:
            verify = word
        self._verify: bool | str = verify if isinstance(verify, (bool, str)) else bool(verify)
        self._client_obj: Any = None
        self._lock = threading.Lock()

    def _int(self, value: Any, what: str) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConnectorError(f"S3 resource '{self.name}' {what} must be an integer, got {value!r}") from None

    def bucket(self, bucket: str | None) -> str:
        """``bucket`` or the resource's ``config.bucket``."""
        chosen = bucket or self.default_bucket
        if not chosen:
            raise ConnectorError(f"S3 resource '{self.name}' has no config.bucket; give the step a bucket input")
        return chosen

    # -- operations ------------------------------------------------------------------------------------------------
    def list_objects(
        self, bucket: str, *, prefix: str = "", pattern: str = "*", recursive: bool = True
    ) -> list[dict[str, Any]]:
        """Objects under ``prefix`` whose name (last key segment) matches ``pattern``, sorted by key.

        ``recursive: false`` lists one level (delimiter ``/``). Keys ending in ``/`` (folder markers) are skipped.
        """
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        with self._errors("list", s3_uri(bucket, prefix)):
            for page in self._client().get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    name = key.rsplit("/", 1)[-1]
                    if key.endswith("/") or not fnmatch.fnmatchcase(name, pattern):
                        continue
                    found.append(
                        {
                            "bucket": bucket,
                            "key": key,
                            "rel_path": key[len(prefix) :].lstrip("/"),
                            "name": name,
                            "size": int(obj.get("Size", 0)),
                            "mtime": int(obj["LastModified"].timestamp()) if obj.get("LastModified") else None,
                            "etag": str(obj.get("ETag", "")).strip('"'),
                            "path": s3_uri(bucket, key),
                        }
                    )
        return sorted(found, key=lambda e: str(e["key"]))

    def exists(self, bucket: str, key: str) -> bool:
        """True when the object exists (a HEAD request)."""
        import botocore.exceptions

        with self._errors("head", s3_uri(bucket, key)):
            try:
                self._client().head_object(Bucket=bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) in _NOT_FOUND_CODES:
                    return False
                raise
        return True

    def download(
        self,
        bucket: str,
        key: str,
        local_path: Path,
        *,
        cancelled: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Copy the object to ``local_path`` (``<name>.tmp`` then rename); return its size."""
        local_path.parent.mkdir(parents=True, exist_ok=True)
        uri = s3_uri(bucket, key)
        with replaced_when_done(local_path) as tmp, self._errors("download", uri):
            self._client().download_file(
                bucket, key, str(tmp), Config=self._transfer_config(), Callback=_watch(uri, cancelled, progress)
            )
        return local_path.stat().st_size

    def upload(
        self,
        local_path: Path,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        cancelled: CancelToken | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Upload a file (multipart above 8 MiB, aborted on failure); return ``{bucket, key, etag, size}``."""
        uri = s3_uri(bucket, key)
        ctype = content_type or mimetypes.guess_type(local_path.name)[0] or "application/octet-stream"
        with self._errors("upload", uri):
            self._client().upload_file(
                str(local_path),
                bucket,
                key,
                ExtraArgs={"ContentType": ctype},
                Config=self._transfer_config(),
                Callback=_watch(uri, cancelled, progress),
            )
            head = self._client().head_object(Bucket=bucket, Key=key)
        return {
            "bucket": bucket,
            "key": key,
            "etag": str(head.get("ETag", "")).strip('"'),
            "size": int(head.get("ContentLength", 0)),
        }

    def delete(self, bucket: str, keys: Iterable[str]) -> int:
        """Delete keys (1000 per request); a missing key is not an error. Return how many keys were requested."""
        pending = list(keys)
        for start in range(0, len(pending), 1000):
            batch = pending[start : start + 1000]
            with self._errors("delete", s3_uri(bucket, batch[0])):
                answer = self._client().delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            failed = answer.get("Errors") or []
            if failed:
                listed = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in failed[:10])
                codes = {str(e.get("Code")) for e in failed}
                raise ConnectorError(
                    f"S3 delete in s3://{bucket} failed for {len(failed)} key(s) (resource '{self.name}'): {listed}",
                    transient=codes <= _TRANSIENT_CODES,
                )
        return len(pending)

    def close(self) -> None:
        """Drop the client (its connection pool closes with it)."""
        with self._lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- plumbing --------------------------------------------------------------------------------------------------
    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                import boto3.session
                from botocore.config import Config

                session = boto3.session.Session(
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                    aws_session_token=self._session_token,
                    region_name=self.region,
                )
                config = Config(
                    retries={"max_attempts": self.max_attempts, "mode": "standard"},
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    s3={"addressing_style": self.addressing_style},
                    max_pool_connections=32,
                    user_agent_extra="aetherflow",
                )
                try:
                    self._client_obj = session.client(
                        "s3", endpoint_url=self.endpoint_url, verify=self._verify, config=config
                    )
                except ValueError as exc:
                    raise ConnectorError(f"S3 resource '{self.name}' cannot create a client: {exc}") from None
            return self._client_obj

    @staticmethod
    def _transfer_config() -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=MULTIPART_CHUNK + 1,  # "larger than 8 MiB"
            multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=4,
            # One retry mechanism: botocore's. The runner's step retry handles what is left.
            num_download_attempts=1,
            preferred_transfer_client="classic",
        )

    @contextlib.contextmanager
    def _errors(self, what: str, uri: str) -> Any:
        """Turn botocore/boto3 failures inside the block into ``ConnectorError``."""
        try:
            yield
        except (ConnectorError, Interrupted):
            raise
        except Exception as exc:
            cancel = _find(exc, Interrupted)
            if cancel is not None:
                raise cancel from None
            raise self._translate(exc, what, uri) from exc

    def _translate(self, exc: BaseException, what: str, uri: str) -> ConnectorError:
        import botocore.exceptions as bce

        where = f"{uri} (resource '{self.name}')"
        client_error = _find(exc, bce.ClientError)
        if client_error is not None:
            code = _error_code(client_error)
            status = int(client_error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            detail = str(client_error.response.get("Error", {}).get("Message") or code)
            if code == "NoSuchBucket":
                return ConnectorError(f"S3 {what}: bucket not found: {where}")
            if code in _NOT_FOUND_CODES:
                return ConnectorError(f"S3 {what}: object not found: {where}")
            if code in _DENIED_CODES:
                return ConnectorError(
                    f"S3 {what}: access denied for {where}: {code}; check the credentials and the bucket policy"
                )
            transient = code in _TRANSIENT_CODES or status >= 500 or status == 429
            return ConnectorError(f"S3 {what} failed for {where}: {code} {detail}", transient=transient)
        if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
            return ConnectorError(
                f"S3 resource '{self.name}' has no usable credentials: set config.access_key_id and "
                "config.secret_access_key, or provide the default AWS chain (env, profile, pod role)"
            )
        if isinstance(exc, bce.SSLError):
            return ConnectorError(
                f"S3 {what}: TLS failure for {where}: {exc}; check options.verify_ssl and config.endpoint_url"
            )
        if isinstance(exc, (bce.HTTPClientError, bce.ConnectionError)):
            return ConnectorError(f"S3 {what}: connection failed for {where}: {exc}", transient=True)
        if isinstance(exc, (bce.NoRegionError, bce.ParamValidationError)):
            return ConnectorError(f"S3 {what}: invalid request for {where}: {exc}")
        if isinstance(exc, OSError):
            return ConnectorError(f"S3 {what}: local file error for {where}: {type(exc).__name__}: {exc}")
        return ConnectorError(f"S3 {what} failed for {where}: {type(exc).__name__}: {exc}")


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _find(exc: BaseException, kind: Any) -> Any:
    """``exc`` or the first exception of type ``kind`` in its cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _watch(uri: str, cancelled: CancelToken | None, progress: Progress | None) -> Callable[[int], None]:
    """An s3transfer callback: reports progress and stops the transfer once the step is cancelled."""
    done = 0
    lock = threading.Lock()

    def callback(amount: int) -> None:
        nonlocal done
        if cancelled is not None and cancelled.is_set():
            raise Interrupted(f"S3 transfer of {uri} stopped: the step was cancelled")
        if progress is not None:
            with lock:
                done += amount
                current = done
            progress(current)

    return callback
