"""S3 upload/download throughput of our ``s3:boto3`` connector against a local moto S3 server.

moto is a fake: the absolute numbers say nothing about real S3. The reference in the same run is plain
``boto3.client.upload_file`` with its default TransferConfig, so the ratio shows what our settings (8 MiB parts,
4 threads, a HEAD after upload) cost or gain. moto runs as its own process (in-process it would share the GIL with
the client) and keeps objects in memory: a 256 MiB run needs ~1.5 GiB.

    .venv/bin/python bench/s3.py --size-mb 256
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aetherflow.api import ConnectorInit
from aetherflow.connectors.s3 import Boto3S3Connector


class _BenchCtx:
    env: dict[str, str] = {}

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        print(f"[{level}] {event} {fields}")

    def redact(self, text: str) -> str:
        return text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(endpoint: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"moto server at {endpoint} not ready after 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256, help="object size in MB (MiB, 2**20 bytes)")
    args = parser.parse_args()
    import boto3

    size = args.size_mb * 1024 * 1024
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for(endpoint, server)
    creds = {"access_key_id": "bench", "secret_access_key": "bench-secret"}
    try:
        with tempfile.TemporaryDirectory(prefix="aetherflow-bench-s3-") as tmp:
            source = Path(tmp) / "source.bin"
            with source.open("wb") as f:
                for _ in range(args.size_mb):
                    f.write(os.urandom(1 << 20))
            plain = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=creds["access_key_id"],
                aws_secret_access_key=creds["secret_access_key"],
            )
            plain.create_bucket(Bucket="bench")
            started = time.perf_counter()
            plain.upload_file(str(source), "bench", "reference.bin")
            reference = time.perf_counter() - started
            started = time.perf_counter()
            plain.download_file("bench", "reference.bin", str(Path(tmp) / "reference.bin"))
            reference_down = time.perf_counter() - started
            plain.delete_object(Bucket="bench", Key="reference.bin")

            connector = Boto3S3Connector(
                ConnectorInit(
                    name="bench",
                    kind="s3",
                    driver="boto3",
                    config={"endpoint_url": endpoint, "region": "us-east-1", "bucket": "bench", **creds},
                    options={},
                    ctx=_BenchCtx(),
                )
            )
            try:
                connector.exists("bench", "warm-up")  # client creation is not part of the transfer, as above
                started = time.perf_counter()
                done = connector.upload(source, "bench", "ours.bin")
                upload = time.perf_counter() - started
                started = time.perf_counter()
                connector.download("bench", "ours.bin", Path(tmp) / "back.bin")
                download = time.perf_counter() - started
            finally:
                connector.close()
            if (Path(tmp) / "back.bin").stat().st_size != size or done["size"] != size:
                print("ERROR: sizes differ after the round trip")
                return 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    mb = size / 1e6
    print(f"S3 (moto server) {args.size_mb} MiB object, multipart ETag {done['etag']}")
    print(f"  boto3 upload_file defaults   {mb / reference:8.1f} MB/s  ({reference:.2f} s)")
    print(f"  ours upload                  {mb / upload:8.1f} MB/s  ({upload:.2f} s)")
    print(f"  boto3 download_file defaults {mb / reference_down:8.1f} MB/s  ({reference_down:.2f} s)")
    print(f"  ours download                {mb / download:8.1f} MB/s  ({download:.2f} s)")
    ratios = f"upload {reference / upload:.2f}, download {reference_down / download:.2f}"
    print(f"  ours/boto3-defaults throughput: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
