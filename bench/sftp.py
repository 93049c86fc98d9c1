"""SFTP throughput: our ``sftp:paramiko`` connector vs the OpenSSH ``sftp`` client, same local sshd, same run.

Starts a throwaway OpenSSH sshd on 127.0.0.1 (needs root and ``openssh-server``), uploads and downloads one file of
``--size-mb`` MB with both clients (``--rounds`` times, best round kept) and prints MB/s and our/OpenSSH ratios.
Target: ratio >= 0.60 both ways.

    .venv/bin/python bench/sftp.py --size-mb 256
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aetherflow.api import ConnectorInit
from aetherflow.connectors.sftp import ParamikoSftpConnector
from tests.servers.sshd import SshdServer, run_sshd, sshd_unavailable_reason

TARGET = 0.60


class _BenchCtx:
    env: dict[str, str] = {}

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        print(f"[{level}] {event} {fields}")

    def redact(self, text: str) -> str:
        return text


def _openssh(server: SshdServer, known_hosts: Path, command: str, workdir: Path) -> float:
    batch = workdir / "batch"
    batch.write_text(command + "\n")
    argv = [
        "sftp", "-q", "-b", str(batch), "-i", str(server.client_key), "-P", str(server.port),
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
        f"{server.user}@{server.host}",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=256, help="file size in MB (MiB, 2**20 bytes)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per client; the best is kept")
    args = parser.parse_args()
    reason = sshd_unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="aetherflow-bench-sftp-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # sshd reads the authorized keys below it as the SFTP user
        source = work / "source.bin"
        with source.open("wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        with run_sshd(work / "sshd") as server:
            remote_dir = f"bench-{os.getpid()}"
            server.make_dir(remote_dir)
            known_hosts = work / "known_hosts"
            known_hosts.write_text(server.known_hosts)
            init = ConnectorInit(
                name="bench",
                kind="sftp",
                driver="paramiko",
                config={
                    "host": server.host,
                    "port": server.port,
                    "user": server.user,
                    "pkey_path": str(server.client_key),
                    "known_hosts": server.known_hosts,
                },
                options={},
                ctx=_BenchCtx(),
            )
            best: dict[str, float] = {}

            def keep(name: str, seconds: float) -> None:
                best[name] = min(best.get(name, float("inf")), seconds)

            try:
                for _ in range(args.rounds):
                    keep("openssh put", _openssh(server, known_hosts, f"put {source} {remote_dir}/ref.bin", work))
                    keep("openssh get", _openssh(server, known_hosts, f"get {remote_dir}/ref.bin {work}/ref.bin", work))
                    # A fresh connector per transfer: like each sftp process, the timing includes the SSH handshake.
                    started = time.perf_counter()
                    connector = ParamikoSftpConnector(init)
                    try:
                        connector.upload(source, f"{remote_dir}/ours.bin")
                    finally:
                        connector.close()
                    keep("ours put", time.perf_counter() - started)
                    started = time.perf_counter()
                    connector = ParamikoSftpConnector(init)
                    try:
                        connector.download(f"{remote_dir}/ref.bin", work / "ours.bin")
                    finally:
                        connector.close()
                    keep("ours get", time.perf_counter() - started)
                checksum = _sha256(source)
                for copy in (server.home / remote_dir / "ours.bin", work / "ours.bin"):
                    if _sha256(copy) != checksum:
                        print(f"ERROR: {copy} differs from the source")
                        return 1
            finally:
                subprocess.run(["rm", "-rf", str(server.home / remote_dir)], check=False)
    mb = size / 1e6
    print(f"SFTP {args.size_mb} MiB over loopback, best of {args.rounds} round(s)")
    for name in ("openssh put", "ours put", "openssh get", "ours get"):
        print(f"  {name:<12} {mb / best[name]:8.1f} MB/s  ({best[name]:.2f} s)")
    ok = True
    for direction in ("put", "get"):
        ratio = best[f"openssh {direction}"] / best[f"ours {direction}"]
        verdict = "ok" if ratio >= TARGET else "BELOW TARGET"
        ok = ok and ratio >= TARGET
        print(f"  {direction}: ours/openssh throughput = {ratio:.2f} (target >= {TARGET:.2f}) {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
