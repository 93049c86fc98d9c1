"""Pushgateway URL handling and grouping key, without a gateway (container.md §6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aetherflow.edge.pushgateway import grouping_key, strip_userinfo


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("http://pusher:s3cret@gateway.monitoring:9091", "http://gateway.monitoring:9091"),
        ("https://pusher@gateway.monitoring/prefix", "https://gateway.monitoring/prefix"),
        ("http://user:p%40ss@[fd00::1]:9091", "http://[fd00::1]:9091"),
        ("pusher:s3cret@gateway:9091", "http://gateway:9091"),
        ("http://gateway.monitoring:9091", "http://gateway.monitoring:9091"),
        ("gateway:9091", "gateway:9091"),
    ],
)  # fmt: skip
def test_logged_url_never_carries_user_info(url: str, safe: str) -> None:
    assert strip_userinfo(url) == safe


def test_grouping_key_is_the_flow_without_run_id_or_pod() -> None:
    assert grouping_key("sales") == {"flow": "sales"}


def test_grouping_key_adds_the_namespace_only_when_known() -> None:
    assert grouping_key("sales", "batch") == {"flow": "sales", "namespace": "batch"}
    assert grouping_key("sales", None) == {"flow": "sales"}
    assert grouping_key("sales", "") == {"flow": "sales"}


def test_termination_message_and_run_id_code_load_no_metrics_library() -> None:
    heavy = "{'prometheus_client', 'tenacity', 'aetherflow.observability.metrics'}"
    probe = f"import sys, aetherflow.edge.summary, aetherflow.edge.podinfo; print(sorted(sys.modules.keys() & {heavy}))"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"
