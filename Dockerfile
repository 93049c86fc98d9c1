# AetherFlow job image: one flow per pod, configured by env vars and mounted files (docs/kubernetes.md).
#
#   docker build --build-arg VERSION="$(python3 -c 'import aetherflow; print(aetherflow.__version__)')" -t aetherflow .
#
# Stages: `deps` resolves the dependencies into /opt/venv (changes only with pyproject.toml / requirements.lock),
# `app` installs the package on top of it, `runtime` is a clean base with tini and git, the deps venv as one layer
# and the package as a small layer of its own, so a code change ships (and every node pulls) a few hundred KB.
# Behind a proxy or offline, point pip elsewhere with the PIP_* build args (for example
# `--build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels` with a wheelhouse mounted at /wheels).

ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS deps

# Build args are environment variables of the RUN steps, so pip picks these up when they are given.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_CERT
# The one list of the extras the image carries (scripts/image_test.sh reads it from here and imports each of them).
# `parquet` (pyarrow) costs ~170 MB of every pod's pull but is what the image promises; `k8s` (the kubernetes client)
# is imported only when Kubernetes Events are enabled. Opt-in only, never pulled in by another extra: `duckdb`,
# `oracle`, `exasol`, `pyminizip` (no wheel for Python 3.12: it needs a compiler in the deps stage), e.g.
# --build-arg EXTRAS=db,sftp,rest,s3,zip,parquet,k8s,duckdb.
ARG EXTRAS=db,sftp,rest,s3,zip,parquet,excel,smb,k8s

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# The venv gets no pip of its own: the base image's pip installs into it (--python), so pip stays out of the image.
RUN python3 -m venv --without-pip /opt/venv

WORKDIR /src
# requirements.lock (the versions CI tests with) constrains the resolution, so the image runs what was tested.
# Bytecode is compiled with unchecked hashes: the pod's root filesystem is read-only, so nothing could be cached at
# run time, and an immutable image never needs the source-timestamp check.
COPY pyproject.toml requirements.lock ./
RUN python3 -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in sys.argv[1].split(',') if e]; \
print(*p['dependencies'], *(r for e in extras for r in p['optional-dependencies'][e]), sep='\n')" "$EXTRAS" \
        > /tmp/requirements.txt \
 && python3 -m pip --python /opt/venv/bin/python install --constraint requirements.lock \
        --requirement /tmp/requirements.txt \
 && /opt/venv/bin/python -m compileall -q -f -j0 --invalidation-mode unchecked-hash /opt/venv


FROM deps AS app

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_CERT
ARG VERSION=dev

COPY aetherflow/ ./aetherflow/
# The package's files (code, metadata, console script) are staged under /layer for the runtime's last COPY.
RUN python3 -m pip --python /opt/venv/bin/python install --no-deps --no-compile . \
 && { test "$VERSION" = dev \
      || test "$(/opt/venv/bin/python -c 'import aetherflow; print(aetherflow.__version__)')" = "$VERSION"; } \
 && site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && /opt/venv/bin/python -m compileall -q -f --invalidation-mode unchecked-hash "$site/aetherflow" \
 && mkdir -p "/layer$site" /layer/opt/venv/bin \
 && cp -a "$site/aetherflow" "$site"/aetherflow-*.dist-info "/layer$site/" \
 && cp -a /opt/venv/bin/aetherflow /layer/opt/venv/bin/


FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=dev
LABEL org.opencontainers.image.title="aetherflow" \
      org.opencontainers.image.description="YAML-first workflow runner: one flow per Kubernetes Job pod" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# tini: PID 1 that reaps orphans and forwards signals to the runner; git: bundle sources (docs/kubernetes.md).
# Versions come from the base's Debian release; pinning them would break the build at every point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1001 aetherflow \
 && useradd --uid 1001 --gid 1001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin aetherflow \
 && install -d -o 1001 -g 1001 -m 0755 /var/lib/aetherflow \
 && install -d -m 0755 /etc/aetherflow /etc/aetherflow/flows /etc/aetherflow/profiles /etc/aetherflow/env \
 && python3 -m compileall -q -j0 "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"

COPY --from=deps /opt/venv /opt/venv
COPY --from=app /layer/ /

# Read-only root filesystem: nothing writes outside /tmp (emptyDir) and /var/lib/aetherflow (the PVC).
# No pydantic plugins are installed: skipping their entry-point scan saves every pod ~7 ms of cold start.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYDANTIC_DISABLE_PLUGINS=__all__ \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

USER 1001:1001
WORKDIR /var/lib/aetherflow

ENTRYPOINT ["tini", "--", "aetherflow", "container"]
