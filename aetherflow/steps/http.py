"""``http_request`` (kind ``rest``): one HTTP request through the resource's connector.

Inputs: docs/reference/steps/http.md. The response body is kept in the output when it fits ``max_body_bytes``, or
streamed to ``output`` (a sandbox path, written as ``.tmp`` then renamed). Status and transport failures come from the
connector as ``ConnectorError`` (transient ones are retried by the step's retry policy or the resource's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol

from pydantic import Field, field_validator

from aetherflow.api import CancelToken, Inputs, Step, StepContext, StepResult
from aetherflow.steps._allowed import one_of
from aetherflow.steps._transfer import input_error, single_input_file

DEFAULT_MAX_BODY_BYTES = 1_048_576


class RestConnectorLike(Protocol):
    """What ``http_request`` uses of a ``rest`` connector."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        json_body: Any = ...,
        data: Mapping[str, Any] | None = None,
        body: str | bytes | BinaryIO | None = None,
        timeout: float | None = None,
        expect_status: Iterable[int] | None = None,
        output: Path | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        cancelled: CancelToken | None = None,
    ) -> dict[str, Any]: ...


class HttpRequestInputs(Inputs):
    """Inputs of ``http_request`` (``json`` is a reserved name in pydantic, hence the alias)."""

    resource: str
    path: str
    method: str = "GET"

    _method = one_of("http_request", "method")
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    data: dict[str, Any] | None = None
    body: str | None = None
    body_file: str | None = None
    content_type: str | None = None
    timeout_seconds: float | None = Field(None, gt=0)
    expect_status: list[int] | None = None
    output: str | None = None
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=0)

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_status(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, str)) else value

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


class HttpRequest(Step[HttpRequestInputs]):
    """Send an HTTP request; output ``{status_code, headers, elapsed_ms, body?, json?, output?, bytes}``."""

    inputs_model = HttpRequestInputs
    result_keys = frozenset({"status_code", "headers", "elapsed_ms", "bytes", "body", "json", "output"})
    resource_kind: ClassVar[str | None] = "rest"

    def run(self, inputs: HttpRequestInputs, ctx: StepContext) -> StepResult:
        given = [name for name in ("json_body", "data", "body", "body_file") if name in inputs.model_fields_set]
        if len(given) > 1:
            raise input_error("http_request accepts only one of json, data, body, body_file")
        if inputs.content_type is not None and inputs.body_file is None:
            raise input_error("http_request content_type applies to body_file only (set Content-Type in headers)")
        output = ctx.resolve_path(inputs.output) if inputs.output else None
        body_path = single_input_file(ctx, "http_request", "body_file", inputs.body_file) if inputs.body_file else None
        rest: RestConnectorLike = ctx.connector(inputs.resource, kind="rest")
        headers = dict(inputs.headers)
        if inputs.content_type is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["Content-Type"] = inputs.content_type
        with ExitStack() as stack:
            body: str | BinaryIO | None = inputs.body
            if body_path is not None:
                body = stack.enter_context(body_path.open("rb"))  # streamed by the connector, never read here
            result = self._send(rest, inputs, ctx, headers, body, output)
        if output is None and "body" not in result and result.get("bytes", 0) > inputs.max_body_bytes:
            ctx.emit(
                "http_body_not_kept",
                level="WARNING",
                bytes=result["bytes"],
                max_body_bytes=inputs.max_body_bytes,
                hint="set inputs.output to stream the body to a file",
            )
        return StepResult.success(result)

    @staticmethod
    def _send(
        rest: RestConnectorLike,
        inputs: HttpRequestInputs,
        ctx: StepContext,
        headers: dict[str, Any],
        body: str | BinaryIO | None,
        output: Path | None,
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if "json_body" in inputs.model_fields_set:
            extra["json_body"] = inputs.json_body
        return rest.request(
            inputs.method,
            inputs.path,
            params=inputs.params,
            headers=headers,
            data=inputs.data,
            body=body,
            timeout=inputs.timeout_seconds,
            expect_status=inputs.expect_status,
            output=output,
            max_body_bytes=inputs.max_body_bytes,
            cancelled=ctx.cancelled,
            **extra,
        )
