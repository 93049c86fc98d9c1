"""The only metrics network call: pushes a run's metrics to a Prometheus Pushgateway (docs/reference/observability.md).

``Pusher`` sends a registry: POST at run start (one attempt), PUT at the end of a SUCCESS run, POST at the end of any
other run and for the overlap gauge. Every push is bounded, whatever the gateway does: each attempt is one exchange
(connect, send, answer) under a ``Deadline`` of ``timeout`` seconds that shuts the socket down, so a gateway that
answers one byte a second cannot stretch it; attempts are separated by 0.5-1.5 s jittered pauses, so one push costs
at most ``timeout x attempts + 1.5 x (attempts - 1)`` seconds plus the time to raise. Pushes are best effort: a failure
logs one ``metrics_push_failed`` warning and never raises, and once a push has failed the later pushes of the run
make a single attempt. Basic credentials (user info in the URL) are never sent on to a redirect's target.
``RunPusher`` wires ``RunMetrics`` to run events for the entrypoint.

Imported by the entrypoint only when ``AETHERFLOW_PUSHGATEWAY_URL`` is set (prometheus_client and tenacity load here).
"""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import push_to_gateway, pushadd_to_gateway
from tenacity import Retrying, stop_after_attempt, wait_random

from aetherflow.deadline import Deadline, attach_socket
from aetherflow.edge.schedule import schedule_of
from aetherflow.errors import error_text
from aetherflow.events import Event, RunOverlap, RunStart, RunSummary
from aetherflow.observability.metrics import RunInfo, RunMetrics

if TYPE_CHECKING:
    from aetherflow.plan import Plan
    from aetherflow.runner.engine import RunOutcome
    from aetherflow.settings import Settings

log = logging.getLogger("aetherflow")

#: the ``job`` label of every push; the run id and pod name are never part of the grouping key
JOB_LABEL = "aetherflow"
PAUSE_MIN_SECONDS = 0.5
PAUSE_MAX_SECONDS = 1.5

_Handler = Callable[..., Callable[[], None]]


def grouping_key(flow_id: str, namespace: str | None = None, schedule: str | None = None) -> dict[str, str]:
    """``flow=<flow_id>`` plus ``namespace`` and ``schedule`` when given (the push adds ``job``).

    Two schedules of one flow, two namespaces, or a manual Job and its schedule each get their own group, so their
    series never overwrite each other.
    """
    key = {"flow": flow_id}
    if namespace:
        key["namespace"] = namespace
    if schedule:
        key["schedule"] = schedule
    return key


def strip_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part, safe to log."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Pusher:
    """Pushes registries to one gateway group; never raises, bounded in attempts and time."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 2.0,
        attempts: int = 2,
        grouping_key: Mapping[str, str],
        redact: Callable[[str], str] = lambda text: text,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.safe_url = strip_userinfo(url)
        self.timeout_seconds = timeout_seconds
        self.attempts = max(1, attempts)
        self.grouping_key = dict(grouping_key)
        self.failed = False
        self._redact = redact
        self._sleep = sleep
        self._gateway, self._handler, self._secrets = _gateway_and_handler(url)

    def push_start(self, registry: CollectorRegistry) -> bool:
        """POST the start families with a single attempt; True when the gateway took them."""
        return self._push(registry, replace=False, attempts=1)

    def push_end(self, registry: CollectorRegistry, *, replace: bool) -> bool:
        """PUT (``replace``: a SUCCESS run prunes the group) or POST the end families; True on success."""
        return self._push(registry, replace=replace, attempts=self.attempts)

    def push_overlap(self, registry: CollectorRegistry) -> bool:
        """POST the overlap gauge alone; True on success."""
        return self._push(registry, replace=False, attempts=self.attempts)

    def _push(self, registry: CollectorRegistry, *, replace: bool, attempts: int) -> bool:
        if self.failed:
            attempts = 1  # the gateway already failed this run: do not spend the run's time on it again
        push = push_to_gateway if replace else pushadd_to_gateway
        made = 0
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random(PAUSE_MIN_SECONDS, PAUSE_MAX_SECONDS),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    made += 1
                    push(
                        self._gateway,
                        job=JOB_LABEL,
                        registry=registry,
                        grouping_key=self.grouping_key,
                        timeout=self.timeout_seconds,
                        handler=self._handler,
                    )
        except Exception as exc:  # noqa: BLE001 (metrics must never change the exit code)
            self.failed = True
            log.warning(
                "metrics_push_failed",
                extra={
                    "event": "metrics_push_failed",
                    "fields": {"url": self.safe_url, "attempts": made, "error": self._error(exc)},
                },
            )
            return False
        return True

    def _error(self, exc: BaseException) -> str:
        text = error_text(exc)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return self._redact(text)


def _gateway_and_handler(url: str) -> tuple[str, _Handler, tuple[str, ...]]:
    """The gateway URL without user-info, the handler that sends it (Basic auth when the URL had a user) and the
    strings to keep out of error messages."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.username is None:
        return url, _bounded_handler(None), ()
    username, password = unquote(parts.username), unquote(parts.password or "")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    secrets = tuple(s for s in (password, parts.password or "", token) if s)
    return strip_userinfo(url), _bounded_handler(f"Basic {token}"), secrets


def _bounded_handler(authorization: str | None) -> _Handler:
    """A prometheus_client push handler whose whole exchange is bounded by the push timeout."""

    def handler(
        url: str, method: str, timeout: float | None, headers: Sequence[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def handle() -> None:
            request = urllib.request.Request(url, data=data, method=method)
            for name, value in headers:
                request.add_header(name, value)
            if authorization is not None:
                request.add_unredirected_header("Authorization", authorization)
            opener = urllib.request.build_opener(_WatchedHTTPHandler, _WatchedHTTPSHandler)
            with Deadline(timeout) as deadline:
                try:
                    with opener.open(request, timeout=timeout) as response:
                        status, reason = response.status, response.reason
                except (OSError, http.client.HTTPException):  # a cut status line is a BadStatusLine
                    if deadline.expired:
                        raise TimeoutError(f"no complete answer within {timeout:g}s") from None
                    raise
                if deadline.expired:  # the headers may have been cut short: what arrived is not an answer
                    raise TimeoutError(f"no complete answer within {timeout:g}s")
            if status >= 400:
                raise OSError(f"error talking to pushgateway: {status} {reason}")

        return handle

    return handler


def _watched_connection(*args: Any, **kwargs: Any) -> socket.socket:
    sock = socket.create_connection(*args, **kwargs)
    attach_socket(sock)  # before any TLS handshake, which a slow gateway could stretch as well
    return sock


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _watched_connection


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _watched_connection


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTPConnection, req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self) -> None:
        self.tls = ssl.create_default_context()  # what urllib's own handler uses: the system CAs
        super().__init__(context=self.tls)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WatchedHTTPSConnection, req, context=self.tls)


class RunPusher:
    """Observer that pushes one run's metrics: start on ``run_start``, the overlap gauge on ``run_overlap``, the end
    families from ``finish``. Nothing is pushed for a run that was already complete or never started."""

    def __init__(self, metrics: RunMetrics, pusher: Pusher) -> None:
        self.metrics = metrics
        self.pusher = pusher

    @classmethod
    def create(
        cls, settings: Settings, plan: Plan, run_id: str, *, redact: Callable[[str], str] | None = None
    ) -> RunPusher:
        """Build the metrics and the pusher from the settings and the plan's declared jobs and steps."""
        flow_id = plan.meta.flow_id
        declared = {job.id: [step.id for step in job.steps] for job in plan.jobs}
        info = None
        if settings.pushgateway_run_info:
            info = RunInfo(
                job_name=settings.job_name or "", pod=settings.pod_name or "", namespace=settings.namespace or ""
            )
        schedule = schedule_of(settings.schedule_name, settings.job_name, settings.scheduled_at)
        metrics = RunMetrics(flow_id, declared, run_id=run_id, run_info=info, scheduled_at=schedule.slot)
        namespace = settings.namespace if settings.pushgateway_namespace_label else None
        pusher = Pusher(
            settings.pushgateway_url,
            timeout_seconds=settings.pushgateway_timeout_seconds,
            attempts=settings.pushgateway_attempts,
            grouping_key=grouping_key(flow_id, namespace, schedule.label),
            redact=redact or (lambda text: text),
        )
        return cls(metrics, pusher)

    def on_event(self, event: Event, fields: Mapping[str, Any]) -> None:
        """Feed the metrics; push at run start and on an overlap."""
        self.metrics.on_event(event, fields)
        if isinstance(event, RunStart):
            self.pusher.push_start(self.metrics.start_registry())
        elif isinstance(event, RunOverlap):
            self.pusher.push_overlap(self.metrics.overlap_registry())

    def finish(self, outcome: RunOutcome) -> None:
        """Push the end families of a run that started (PUT when it succeeded, POST otherwise)."""
        if outcome.overlap is not None or outcome.already_complete:
            return
        if not self.metrics.ended and outcome.summary:
            summary = {**outcome.summary, "status": outcome.status}
            event = RunSummary(**{k: v for k, v in summary.items() if k not in ("flow_id", "run_id")})
            self.metrics.on_event(event, summary)
        if self.metrics.started_at is None:
            return
        self.pusher.push_end(self.metrics.end_registry(), replace=self.metrics.succeeded)
