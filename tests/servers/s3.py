"""An S3 API on 127.0.0.1 for the S3 tests: moto in server mode (``ThreadedMotoServer``), one per session.

No real S3-compatible server installs here; moto speaks the S3 REST API over HTTP, so boto3 runs unchanged against
it (signing, multipart, errors). Each test gets its own bucket (``s3_bucket``). Credentials are dummies passed in
the resource config (``s3_resource_config``), never through the process environment.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

S3_REGION = "us-east-1"
S3_ACCESS_KEY = "AKIAAETHERFLOWTEST"
S3_SECRET_KEY = "aetherflow-test-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    """Where the moto server listens and the dummy credentials it accepts."""

    endpoint_url: str

    def config(self, **extra: Any) -> dict[str, Any]:
        """An ``s3:boto3`` resource config for this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": S3_REGION,
            "access_key_id": S3_ACCESS_KEY,
            "secret_access_key": S3_SECRET_KEY,
            **extra,
        }

    def client(self) -> Any:
        """A plain boto3 client, for arranging and checking test data."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's threaded server on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """A fresh bucket for one test, emptied and removed afterwards."""
    client = s3_server.client()
    name = f"af-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        client.delete_bucket(Bucket=name)
