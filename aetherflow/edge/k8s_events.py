"""Kubernetes Events on the run's Job for a failed or refused run, so `kubectl describe job` says what happened.

Opt-in (``AETHERFLOW_KUBERNETES_EVENTS``): the runner needs no Kubernetes API access otherwise, and only then does
the chart mount a service-account token and grant `create` on `events` in the namespace. The `kubernetes` client is
imported here, on the first event, never by a run that does not post one. Best effort and bounded: a failure logs one
warning and never changes the exit code. The message is built from the termination message, which is already
redacted.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aetherflow.settings import Settings

log = logging.getLogger("aetherflow")

#: a Kubernetes Event message is capped by the API server at 1 KiB
MESSAGE_LIMIT = 1024
REQUEST_TIMEOUT_SECONDS = 5.0
_REASONS = {"FAILED": ("RunFailed", "Warning"), "OVERLAP": ("RunOverlap", "Normal")}


def event_for(termination: Mapping[str, Any]) -> dict[str, str] | None:
    """Reason, type and message of the Event for a termination message; None when the run needs none."""
    status = str(termination.get("status", ""))
    if status not in _REASONS:
        return None
    reason, kind = _REASONS[status]
    parts = [f"run {termination.get('run_id', '?')} of flow {termination.get('flow_id', '?')}: {status}"]
    parts.append(f"exit code {termination.get('exit_code')}")
    for entry in termination.get("failed") or ():
        if isinstance(entry, Mapping):
            where = ".".join(str(p) for p in (entry.get("job_id"), entry.get("step_id")) if p)
            parts.append(f"{where}: {entry.get('error')}")
    if termination.get("error"):
        parts.append(str(termination["error"]))
    message = "; ".join(parts)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return {"reason": reason, "type": kind, "message": message}


def post_job_event(settings: Settings, termination: Mapping[str, Any]) -> bool:
    """Create the Event of this run on its Job; True when the API server accepted it."""
    event = event_for(termination)
    if event is None or not settings.job_name or not settings.namespace:
        return False
    try:
        api = _core_api()
        api.create_namespaced_event(
            settings.namespace, _body(settings, event), _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except Exception as exc:  # noqa: BLE001 (any client, transport or API error: an Event never fails a run)
        log.warning(
            "kubernetes event not created",
            extra={"event": "kubernetes_event_failed", "fields": {"error": f"{type(exc).__name__}: {exc}"[:500]}},
        )
        return False
    return True


def _core_api() -> Any:
    import kubernetes

    k8s: Any = kubernetes  # the client is untyped
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        k8s.config.load_incluster_config()
    else:  # outside a pod (tests, a workstation): the kubeconfig of KUBECONFIG or ~/.kube/config
        k8s.config.load_kube_config()
    return k8s.client.CoreV1Api()


def _body(settings: Settings, event: Mapping[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": settings.job_name,
        "namespace": settings.namespace,
    }
    if settings.job_uid:
        involved["uid"] = settings.job_uid
    instance = settings.pod_name or socket.gethostname()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{settings.job_name}.", "namespace": settings.namespace},
        "involvedObject": involved,
        "reason": event["reason"],
        "type": event["type"],
        "message": event["message"],
        "source": {"component": "aetherflow"},
        "reportingComponent": "aetherflow",
        "reportingInstance": instance[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
