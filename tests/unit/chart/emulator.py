"""An in-process Kubernetes API (kmock's KubernetesEmulator) for running tests/e2e/cluster.py offline.

Mock: a Kubernetes API server cannot run here. kmock serves real HTTP that the official ``kubernetes`` client talks
to unchanged (CRUD, 404s), but it has no controllers and ignores label selectors, so tests seed the objects a
cluster would hold (Jobs with conditions, Pods with terminated states, termination messages and logs).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.e2e import cluster

NS = "aetherflow"


@dataclass
class Emulator:
    """A running emulator, an ApiClient pointed at it, and the handler for extra reactions."""

    api: Any
    handler: Any

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    def text(self, path: str, body: str | Callable[[], str]) -> None:
        """Serve ``body`` as text/plain on GET ``path`` (pod logs, the Pushgateway proxy).

        A callable is called on every request, for content that grows (the log of a running pod).
        """
        import kmock

        def payload() -> bytes:
            return (body() if callable(body) else body).encode()

        self.handler["get", path] << kmock.headers({"Content-Type": "text/plain; charset=utf-8"}) << payload

    def job(self, name: str, condition: str | None, reason: str | None = None, failed: int = 0) -> None:
        conditions = (
            []
            if condition is None
            else [{"type": condition, "status": "True", "reason": reason, "lastTransitionTime": "2025-03-01T02:03:00Z"}]
        )
        self.batch().create_namespaced_job(
            NS,
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "namespace": NS, "labels": {cluster.JOB_NAME_LABEL: name}},
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "aetherflow", "image": "img"}]}
                    }
                },
                "status": {"conditions": conditions, "failed": failed},
            },
        )

    def pod(
        self,
        name: str,
        job: str,
        *,
        created: str,
        exit_code: int | None = None,
        message: dict[str, Any] | str | None = None,
        logs: list[dict[str, Any]] | None = None,
        log_text: str | Callable[[], str] | None = None,
    ) -> None:
        state: dict[str, Any] = {"running": {"startedAt": created}}
        phase = "Running"
        if exit_code is not None:
            raw = message if isinstance(message, str) or message is None else json.dumps(message)
            state = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Completed" if exit_code == 0 else "Error",
                    "message": raw,
                }
            }
            phase = "Succeeded" if exit_code == 0 else "Failed"
        self.core().create_namespaced_pod(
            NS,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": NS,
                    "creationTimestamp": created,
                    "labels": {cluster.JOB_NAME_LABEL: job, "batch.kubernetes.io/controller-uid": "u"},
                },
                "spec": {"containers": [{"name": "aetherflow", "image": "img"}]},
                "status": {
                    "phase": phase,
                    "containerStatuses": [
                        {
                            "name": "aetherflow",
                            "image": "img",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": state,
                        }
                    ],
                },
            },
        )
        if logs is not None:
            log_text = "".join(json.dumps(e) + "\n" for e in logs)
        if log_text is not None:
            self.text(f"/api/v1/namespaces/{NS}/pods/{name}/log", log_text)


@contextmanager
def running_emulator() -> Iterator[Emulator]:
    """Start the emulator on 127.0.0.1 (a free port) in a thread; stop it on exit."""
    import kmock
    from kubernetes import client

    ready = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
                box.update(
                    url=str(server.url).rstrip("/"),
                    handler=handler,
                    loop=asyncio.get_running_loop(),
                    stop=asyncio.Event(),
                )
                ready.set()
                await box["stop"].wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the Kubernetes API emulator did not start within 10 s")
    config = client.Configuration()
    config.host = box["url"]
    api: Any = client.ApiClient(config)
    try:
        yield Emulator(api=api, handler=box["handler"])
    finally:
        api.close()
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)
