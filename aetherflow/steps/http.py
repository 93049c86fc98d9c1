"""``http_request`` (kind ``rest``): one HTTP request through the resource's connector.

Inputs: docs/reference/steps/http.md. The response body is kept in the output when it fits ``max_body_bytes``, or
streamed to ``output`` (a sandbox path, written as ``.tmp`` then renamed). Status and transport failures come from the
connector as ``ConnectorError`` (transient ones are retried by the step's retry policy or the resource's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import Field, field_validator

from aetherflow.api import CancelToken, Inputs, Step, StepContext, StepResult
from aetherflow.steps._transfer import input_error

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
        body: str | bytes | None = None,
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
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    data: dict[str, Any] | None = None
    body: str | None = None
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
    resource_kind: ClassVar[str | None] = "rest"

    def run(self, inputs: HttpRequestInputs, ctx: StepContext) -> StepResult:
        given = [name for name in ("json_body", "data", "body") if name in inputs.model_fields_set]
        if len(given) > 1:
            raise input_error("http_request accepts only one of json, data, body")
        output = ctx.resolve_path(inputs.output) if inputs.output else None
        rest: RestConnectorLike = ctx.connector(inputs.resource, kind="rest")
        extra: dict[str, Any] = {}
        if "json_body" in inputs.model_fields_set:
            extra["json_body"] = inputs.json_body
        result = rest.request(
            inputs.method,
            inputs.path,
            params=inputs.params,
            headers=inputs.headers,
            data=inputs.data,
            body=inputs.body,
            timeout=inputs.timeout_seconds,
            expect_status=inputs.expect_status,
            output=output,
            max_body_bytes=inputs.max_body_bytes,
            cancelled=ctx.cancelled,
            **extra,
        )
        if output is None and "body" not in result and result.get("bytes", 0) > inputs.max_body_bytes:
            ctx.emit(
                "http_body_not_kept",
                level="WARNING",
                bytes=result["bytes"],
                max_body_bytes=inputs.max_body_bytes,
                hint="set inputs.output to stream the body to a file",
            )
        return StepResult.success(result)
