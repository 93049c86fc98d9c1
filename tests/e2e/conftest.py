"""Cluster wiring of the kind end-to-end tests.

The tests here are collected only when they were asked for (``-m e2e``) or a kubeconfig is present, and they skip
cleanly when no cluster answers or the chart is not installed (the e2e workflow installs it with
helm/aetherflow/ci/e2e-values.yaml). Names default to that values file and can be changed by environment:
E2E_NAMESPACE, E2E_CRONJOB, E2E_FLOW_ID, E2E_PUSHGATEWAY_SERVICE, E2E_PUSHGATEWAY_PORT. With E2E_REQUIRED=1 (set by
the e2e workflow) a missing cluster or chart is a failure instead of a skip, so the workflow cannot pass vacuously.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.e2e.cluster import E2EConfig


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"E2E_REQUIRED=1 but {reason}")
    pytest.skip(reason)


def _kubeconfig_present() -> bool:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    paths = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
    return any(Path(p).is_file() for p in paths.split(os.pathsep) if p)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip collecting test modules here unless e2e was selected or a kubeconfig exists."""
    if collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        expression = config.getoption("markexpr", "") or ""
        selected = re.search(r"(?<!not )\be2e\b", expression) is not None
        if not selected and not _kubeconfig_present():
            return True
    return None


@pytest.fixture(scope="session")
def e2e() -> E2EConfig:
    return E2EConfig(
        namespace=os.environ.get("E2E_NAMESPACE", "aetherflow"),
        cronjob=os.environ.get("E2E_CRONJOB", "aetherflow-e2e"),
        flow_id=os.environ.get("E2E_FLOW_ID", "e2e"),
        pushgateway_service=os.environ.get("E2E_PUSHGATEWAY_SERVICE", "pushgateway"),
        pushgateway_port=int(os.environ.get("E2E_PUSHGATEWAY_PORT", "9091")),
    )


@pytest.fixture(scope="session")
def k8s(e2e: E2EConfig) -> Iterator[Any]:
    """A ``kubernetes`` ApiClient for the current kubeconfig context; skips when there is nothing to test against."""
    kubernetes: Any = pytest.importorskip("kubernetes", reason="the kubernetes client (extra k8s) is not installed")
    pytest.importorskip("kubernetes.config")
    client: Any = kubernetes.client
    config: Any = kubernetes.config

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            config.load_kube_config()
    except (config.ConfigException, OSError) as exc:
        _unavailable(f"no usable kubeconfig: {exc}")
    api = client.ApiClient()
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:  # any transport error means: no cluster to test against
        api.close()
        _unavailable(f"no Kubernetes cluster reachable: {type(exc).__name__}: {exc}")
    try:
        client.BatchV1Api(api).read_namespaced_cron_job(e2e.cronjob, e2e.namespace, _request_timeout=10)
    except client.ApiException as exc:
        api.close()
        if exc.status == 404:
            _unavailable(
                f"CronJob {e2e.namespace}/{e2e.cronjob} not found: install the chart first (helm install aetherflow "
                f"helm/aetherflow -n {e2e.namespace} -f helm/aetherflow/ci/e2e-values.yaml)"
            )
        raise
    yield api
    api.close()
