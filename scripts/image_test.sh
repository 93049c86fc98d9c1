#!/usr/bin/env bash
# Build the real Dockerfile with podman (no Docker daemon, no container registry needed) and run the image the way a
# Kubernetes CronJob pod runs it: read-only root filesystem, uid 1001, flows/profiles mounted read-only, a state
# volume at /var/lib/aetherflow, /tmp as tmpfs, env from a file, downward-API identity, a termination-log file.
#
#   bash scripts/image_test.sh               build, then every check; exit 1 if any assertion failed
#   bash scripts/image_test.sh --build-only  build the image only (`make image`)
#
# Settings (environment):
#   AETHERFLOW_IMAGE        tag to build            (default localhost/aetherflow:dev)
#   AETHERFLOW_IMAGE_WORK   podman storage, caches  (default .work/podman in the repository; reused between runs)
#   AETHERFLOW_IMAGE_EXTRAS EXTRAS build argument   (default: the Dockerfile's)
#   AETHERFLOW_WHEELHOUSE   auto | always | never   (default auto: build a host wheelhouse when pip inside a container
#                                                    cannot reach the package index, e.g. behind a TLS-intercepting
#                                                    proxy whose CA only the host trusts)
#
# When python:3.12-slim cannot be pulled (no registry), a stand-in is built once and cached: a Debian bookworm
# minbase (debootstrap, from the Debian mirror) with the host's CPython 3.12 in /usr/local, tagged
# docker.io/library/python:3.12-slim. The Dockerfile itself is never changed for this machine.
# Skips (exit 0, a SKIP line) only when podman is missing and cannot be installed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${AETHERFLOW_IMAGE_WORK:-$REPO/.work/podman}
IMAGE=${AETHERFLOW_IMAGE:-localhost/aetherflow:dev}
BASE_IMAGE=docker.io/library/python:3.12-slim
WHEELHOUSE_MODE=${AETHERFLOW_WHEELHOUSE:-auto}
BUILD_ONLY=false
for arg in "$@"; do
  case "$arg" in
    --build-only) BUILD_ONLY=true ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
  esac
done

PROBE=(python3 "$REPO/tests/image/probe.py")
# State databases are read as the pod's uid: files SQLite creates next to them must stay the pod's. The system
# interpreter, because a per-user one (pyenv shims under /root) is out of that uid's reach.
SYSTEM_PYTHON=$(command -v /usr/bin/python3 /usr/local/bin/python3 python3 | head -1)
DBPROBE=(setpriv --reuid=1001 --regid=1001 --clear-groups "$SYSTEM_PYTHON" "$REPO/tests/image/probe.py")
RUN_TAG="aetherflow-it-$$"
PASSED=0
FAILED=0
FAILURES=()
TIMINGS=()
PUSHGATEWAY_PID=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); printf '  FAIL  %s\n' "$1"; }
# check NAME COMMAND...: pass when the command succeeds
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi; }
# expect NAME ACTUAL EXPECTED
expect() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', expected '$3')"; fi; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timing() { TIMINGS+=("$1=$2s"); }

pm() { podman --root "$WORK/storage" --runroot "$WORK/runroot" "$@"; }

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local id
  for id in $(pm ps -a --filter "name=$RUN_TAG" --format '{{.ID}}' 2>/dev/null || true); do
    pm rm -f "$id" >/dev/null 2>&1 || true
  done
  if [ -n "$PUSHGATEWAY_PID" ]; then
    kill "$PUSHGATEWAY_PID" 2>/dev/null || true
    wait "$PUSHGATEWAY_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# ------------------------------------------------------------------------------------------------------------ podman
ensure_podman() {
  local packages=(podman buildah runc fuse-overlayfs debootstrap uidmap slirp4netns containernetworking-plugins)
  local missing=() p
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } \
        || log "apt-get could not install ${missing[*]}"
    fi
    if ! command -v podman >/dev/null; then
      echo "SKIP: podman is not installed and cannot be installed here (needs root and apt-get): image test not run"
      exit 0
    fi
  fi
  mkdir -p "$WORK"
  # Sandboxes without CAP_SYS_RESOURCE cannot raise podman's default rlimits, and crun refuses hybrid cgroups:
  # lower limits and runc work everywhere this script runs.
  cat > "$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$WORK/containers.conf"
}

# ------------------------------------------------------------------------------------------------ python:3.12-slim
# A CPython 3.12 interpreter of the host (the stand-in base copies its prefix; the wheelhouse needs its ABI).
host_python312() {
  local c candidates=("$REPO/.venv/bin/python" python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
  fi
  candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12)
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

build_standin_base() {
  local python prefix rootfs="$WORK/standin/rootfs" mirror
  python=$(host_python312) || { echo "error: no CPython 3.12 on the host to build the python:3.12-slim stand-in" >&2; exit 1; }
  prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
  if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
    log "debootstrap bookworm minbase (stand-in base, cached in $WORK/standin)"
    rm -rf "$rootfs.partial"; mkdir -p "$WORK/standin"
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    # The runtime libraries python:3.12-slim carries, so that CPython's extension modules load.
    debootstrap --variant=minbase \
      --include=ca-certificates,netbase,tzdata,libssl3,libsqlite3-0,libffi8,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libtirpc3,libnsl2,libcrypt1 \
      bookworm "$rootfs.partial" "${mirror:-http://deb.debian.org/debian}" >"$WORK/standin/debootstrap.log" 2>&1
    mv "$rootfs.partial" "$rootfs"
  fi
  log "stand-in python:3.12-slim from $prefix"
  local tree="$WORK/standin/tree"
  rm -rf "$tree"; mkdir -p "$tree"
  tar -C "$rootfs" -cf - . | tar -C "$tree" -xf -
  # CPython without its tests, GUI modules, static library and third-party site-packages (pip comes from ensurepip).
  tar -C "$prefix" \
      --exclude=./lib/python3.12/test --exclude='./lib/python3.12/*/tests' --exclude='./lib/python3.12/*/test' \
      --exclude=./lib/python3.12/idlelib --exclude=./lib/python3.12/tkinter --exclude=./lib/python3.12/turtledemo \
      --exclude='./lib/python3.12/config-3.12*' --exclude=./lib/python3.12/site-packages --exclude='*.a' \
      --exclude=__pycache__ --exclude=./share --exclude='./bin/idle*' --exclude='./bin/2to3*' --exclude='./bin/pip*' \
      -cf - . | tar -C "$tree/usr/local" -xf -
  sed -i '1s|^#!.*python.*$|#!/usr/local/bin/python3.12|' "$tree"/usr/local/bin/pydoc3.12 2>/dev/null || true
  # Like debian:bookworm-slim: no docs/man pages from later apt installs, no apt caches left in layers.
  mkdir -p "$tree/etc/dpkg/dpkg.cfg.d" "$tree/etc/apt/apt.conf.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' 'path-exclude /usr/share/lintian/*' > "$tree/etc/dpkg/dpkg.cfg.d/docker"
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$tree/etc/apt/apt.conf.d/docker-clean"
  chroot "$tree" /bin/sh -c 'ldconfig && python3.12 -m ensurepip --default-pip >/dev/null 2>&1 \
    && ln -sf python3.12 /usr/local/bin/python3 && ln -sf python3.12 /usr/local/bin/python \
    && python3 -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline" \
    && python3 -m compileall -q -j0 /usr/local/lib/python3.12'
  rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/archives/*.deb "$tree"/var/cache/apt/*.bin \
         "$tree"/usr/share/doc/* "$tree"/usr/share/man/* "$tree"/usr/share/locale/*
  tar -C "$tree" -cf - . | pm import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$tree"
}

ensure_base() {
  if pm image exists "$BASE_IMAGE"; then return 0; fi
  local t; t=$(now)
  if timeout 60 podman --root "$WORK/storage" --runroot "$WORK/runroot" pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    log "pulled $BASE_IMAGE"
  else
    build_standin_base
  fi
  timing base_image "$(elapsed "$t")"
}

# ----------------------------------------------------------------------------------------------------------- build
pip_reaches_index() {
  timeout 60 podman --root "$WORK/storage" --runroot "$WORK/runroot" run --rm "$BASE_IMAGE" \
    python3 -m pip download --quiet --no-deps --disable-pip-version-check --timeout 10 --retries 0 -d /tmp/probe pip \
    >/dev/null 2>&1
}

# build_wheelhouse EXTRAS: wheels of every dependency (and the build backend) made by the host's pip, reused while
# pyproject.toml, requirements.lock and the extras are unchanged.
build_wheelhouse() {
  local spec="${REPO}[$1]" constraint=() key t python
  python=$(host_python312) || { echo "error: no CPython 3.12 on the host to build the wheelhouse" >&2; exit 1; }
  [ -f "$REPO/requirements.lock" ] && constraint=(--constraint "$REPO/requirements.lock")
  key=$(cat "$REPO/pyproject.toml" "$REPO/requirements.lock" 2>/dev/null | { cat; echo "$1"; } | sha256sum | cut -c1-16)
  if [ -f "$WORK/wheels/.key" ] && [ "$(cat "$WORK/wheels/.key")" = "$key" ]; then
    return 0
  fi
  t=$(now)
  rm -rf "$WORK/wheels"; mkdir -p "$WORK/wheels"
  if ! "$python" -m pip wheel --quiet --disable-pip-version-check -w "$WORK/wheels" \
       "${constraint[@]}" "setuptools>=69" wheel "$spec" > "$WORK/wheelhouse.log" 2>&1; then
    tail -20 "$WORK/wheelhouse.log"
    fail "host wheelhouse for the build (log: $WORK/wheelhouse.log)"
    summary
  fi
  rm -f "$WORK"/wheels/aetherflow-*.whl
  echo "$key" > "$WORK/wheels/.key"
  timing wheelhouse "$(elapsed "$t")"
}

# The image's extras: the Dockerfile's EXTRAS default (its one list) unless AETHERFLOW_IMAGE_EXTRAS overrides it.
image_extras() {
  if [ -n "${AETHERFLOW_IMAGE_EXTRAS:-}" ]; then echo "$AETHERFLOW_IMAGE_EXTRAS"; return; fi
  sed -n 's/^ARG EXTRAS=//p' "$REPO/Dockerfile" | head -1
}

# Modules that prove an extra is installed and loads (its native parts included).
extra_modules() {
  case "$1" in
    db) echo "sqlalchemy psycopg psycopg2" ;;
    sftp) echo "paramiko" ;;
    rest) echo "urllib3" ;;
    s3) echo "boto3" ;;
    zip) echo "pyzipper" ;;
    parquet) echo "pyarrow pyarrow.parquet" ;;
    k8s) echo "kubernetes.client" ;;
    excel) echo "openpyxl" ;;
    smb) echo "smbclient smb.SMBConnection" ;;
    duckdb) echo "duckdb" ;;
    oracle) echo "oracledb" ;;
    exasol) echo "pyexasol" ;;
    pyminizip) echo "pyminizip" ;;
    *) return 1 ;;
  esac
}

build_image() {
  local version extras build_args=() t
  version=$(python3 -c 'import re, sys; print(re.search(r"^__version__ = \"([^\"]+)\"", open(sys.argv[1]).read(), re.M)[1])' \
            "$REPO/aetherflow/__init__.py")
  extras=$(image_extras)
  [ -n "${AETHERFLOW_IMAGE_EXTRAS:-}" ] && build_args+=(--build-arg "EXTRAS=$extras")
  local use_wheelhouse=false
  case "$WHEELHOUSE_MODE" in
    always) use_wheelhouse=true ;;
    never) ;;
    *) pip_reaches_index || { use_wheelhouse=true; log "pip cannot reach the index from a container: host wheelhouse"; } ;;
  esac
  if $use_wheelhouse; then
    build_wheelhouse "$extras"
    build_args+=(-v "$WORK/wheels:/wheels:ro" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels)
  fi
  if [ -x "$REPO/.venv/bin/hadolint" ]; then
    check "hadolint Dockerfile" "$REPO/.venv/bin/hadolint" "$REPO/Dockerfile"
  fi
  log "building $IMAGE (version $version)"
  local old_id; old_id=$(pm image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  t=$(now)
  if ! pm build --pull=never --layers --build-arg "VERSION=$version" "${build_args[@]}" -t "$IMAGE" \
       -f "$REPO/Dockerfile" "$REPO" > "$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log"
    fail "image builds from the Dockerfile (log: $WORK/build.log)"
    summary
  fi
  timing build "$(elapsed "$t")"
  pass "image builds from the Dockerfile"
  # Drop the previous build's image (not `image prune`: that would also drop the layer cache of the deps stage).
  local new_id; new_id=$(pm image inspect --format '{{.Id}}' "$IMAGE")
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then pm rmi "$old_id" >/dev/null 2>&1 || true; fi
  VERSION=$version
}

# ------------------------------------------------------------------------------------------------------ run checks
# A case directory mirrors a pod's volumes: flows/ (ConfigMap), profiles/ (Secret), volume/ (PVC), termination-log.
new_case() {
  local dir="$WORK/cases/$1"
  rm -rf "$dir"; mkdir -p "$dir/flows" "$dir/profiles" "$dir/volume"
  chown 1001:1001 "$dir/volume"
  : > "$dir/termination-log"; chmod 0666 "$dir/termination-log"
  cat > "$dir/profiles/profiles.yaml" <<'YAML'
local_db:
  config:
    path: "{{env.LOCAL_DB_PATH:/tmp/local.db}}"
YAML
  printf '%s\n' "AETHERFLOW_TERMINATION_LOG=/dev/termination-log" "AETHERFLOW_GRACE_SECONDS=10" \
    "AETHERFLOW_LOG_LEVEL=INFO" > "$dir/env"
  chmod -R a+rX "$dir/flows" "$dir/profiles"
  echo "$dir"
}

# pod CASE_DIR NAME JOB_NAME JOB_UID [podman run options...]: run the image as a Job's pod, print the exit code
pod() {
  local dir=$1 name=$2 job_name=$3 job_uid=$4; shift 4
  chmod -R a+rX "$dir/flows" "$dir/profiles"
  set +e
  pm run --rm --name "$RUN_TAG-$name" --read-only --user 1001:1001 --tmpfs /tmp:rw,mode=1777,size=64m \
    -v "$dir/flows:/etc/aetherflow/flows:ro" -v "$dir/profiles:/etc/aetherflow/profiles:ro" \
    -v "$dir/volume:/var/lib/aetherflow:rw" -v "$dir/termination-log:/dev/termination-log:rw" \
    --env-file "$dir/env" -e "AETHERFLOW_JOB_NAME=$job_name" -e "AETHERFLOW_JOB_UID=$job_uid" \
    -e "AETHERFLOW_POD_NAME=$job_name-pod" -e AETHERFLOW_NAMESPACE=batch "$@" "$IMAGE" \
    > "$dir/$name.log" 2>&1
  local rc=$?
  set -e
  echo "$rc"
}

write_flow() { cat > "$1/flows/flow.yaml"; }

case_success_and_metrics() {
  log "case: a successful run (state on the volume, termination message, Pushgateway)"
  local dir; dir=$(new_case success)
  write_flow "$dir" <<'YAML'
version: 1
flow:
  id: image_ok
  locks: {scope: flow}
resources:
  local: {kind: db, driver: sqlite3, profile: local_db}
jobs:
  - id: extract
    steps:
      - id: touch
        type: external.process
        inputs:
          command: ["sh", "-c", "id -u > /var/lib/aetherflow/uid && echo ran >> /var/lib/aetherflow/count-extract"]
      - id: check
        type: check_items
        inputs: {items: [1, 2]}
  - id: load
    depends_on: [extract]
    steps:
      - id: write
        type: external.process
        inputs: {command: ["sh", "-c", "echo hello > \"$AETHERFLOW_ARTIFACTS_DIR/out.txt\""]}
YAML
  local network=(--network none) url=""
  if command -v prometheus-pushgateway >/dev/null; then
    local port; port=$("${PROBE[@]}" free-port)
    prometheus-pushgateway --web.listen-address="127.0.0.1:$port" --persistence.file="$dir/pushgw.db" \
      --log.level=warn > "$dir/pushgw.log" 2>&1 &
    PUSHGATEWAY_PID=$!
    url="http://127.0.0.1:$port"
    "${PROBE[@]}" wait-url "$url/-/ready" 10 >/dev/null || fail "Pushgateway started"
    network=(--network host -e "AETHERFLOW_PUSHGATEWAY_URL=$url")
  fi
  local t rc; t=$(now)
  rc=$(pod "$dir" run1 image-ok-29012345 uid-aaaaaaaa-1111 "${network[@]}")
  timing run_success "$(elapsed "$t")"
  expect "successful run exits 0" "$rc" 0
  expect "run recorded SUCCESS on the volume" \
    "$("${DBPROBE[@]}" run "$dir/volume/state/image_ok.db" image_ok image-ok-29012345 2>&1 | cut -d' ' -f1,3,4)" \
    "SUCCESS 0 uid-aaaaaaaa-1111"
  expect "steps run as uid 1001" "$(cat "$dir/volume/uid" 2>/dev/null)" 1001
  expect "termination message: status" "$("${PROBE[@]}" json "$dir/termination-log" status 2>&1)" SUCCESS
  expect "termination message: failed list" "$("${PROBE[@]}" json "$dir/termination-log" failed 2>&1)" "[]"
  expect "logs are JSON lines by default in the container" \
    "$(grep -c '"event": "run_summary"' "$dir/run1.log" || true)" 1
  check "work root is on the volume" test -d "$dir/volume/work/image_ok"
  if [ -n "$url" ]; then
    expect "Pushgateway: run status success" \
      "$("${PROBE[@]}" metric "$url" aetherflow_run_status job=aetherflow flow=image_ok status=success 2>&1)" 1
    expect "Pushgateway: job load success" \
      "$("${PROBE[@]}" metric "$url" aetherflow_job_status flow=image_ok job_id=load status=success 2>&1)" 1
    kill "$PUSHGATEWAY_PID" 2>/dev/null || true; wait "$PUSHGATEWAY_PID" 2>/dev/null || true; PUSHGATEWAY_PID=""
  else
    echo "  note  prometheus-pushgateway not installed: metrics push not checked here (pytest covers it)"
  fi
  rc=$(pod "$dir" run2 image-ok-29012345 uid-aaaaaaaa-1111 --network none)
  expect "rerun of a complete run exits 0 and executes nothing" \
    "$rc $(wc -l < "$dir/volume/count-extract")" "0 1"
}

case_invalid_flow() {
  log "case: an invalid flow (exit 2, nothing executed, no state created)"
  local dir; dir=$(new_case invalid)
  write_flow "$dir" <<'YAML'
version: 1
flow:
  id: image_invalid
jobs:
  - id: extract
    depends_on: [missing]
    steps:
      - id: touch
        type: external.process
        inputs: {command: ["sh", "-c", "echo ran >> /var/lib/aetherflow/count"]}
YAML
  local rc; rc=$(pod "$dir" run1 image-invalid-1 uid-bbbbbbbb-2222 --network none)
  expect "invalid flow exits 2" "$rc" 2
  check "nothing executed" test ! -e "$dir/volume/count"
  check "no state database created" test ! -e "$dir/volume/state/image_invalid.db"
  expect "termination message: INVALID" "$("${PROBE[@]}" json "$dir/termination-log" status 2>&1)" INVALID
  check "termination message names the first error" grep -q 'depends_on unknown job' "$dir/termination-log"
}

case_resume() {
  log "case: a retried pod of the same Job resumes; a reused Job name with a new UID starts afresh"
  local dir; dir=$(new_case resume)
  write_flow "$dir" <<'YAML'
version: 1
flow:
  id: image_resume
jobs:
  - id: work
    steps:
      - id: first
        type: external.process
        inputs: {command: ["sh", "-c", "echo ran >> /var/lib/aetherflow/count-first"]}
      - id: second
        type: external.process
        inputs: {command: ["sh", "-c", "test -e /var/lib/aetherflow/go"]}
YAML
  local db="$dir/volume/state/image_resume.db" rc
  rc=$(pod "$dir" run1 nightly-29012345 uid-cccccccc-3333 --network none)
  expect "first pod fails (exit 1)" "$rc" 1
  check "termination message names the failing step" \
    grep -q '"failed": \[{"job_id": "work", "step_id": "second", "error": "RuntimeError: ' "$dir/termination-log"
  touch "$dir/volume/go"
  rc=$(pod "$dir" run2 nightly-29012345 uid-cccccccc-3333 --network none)
  expect "retried pod succeeds (exit 0)" "$rc" 0
  expect "completed step was not repeated" "$(wc -l < "$dir/volume/count-first")" 1
  expect "same run, attempt 2" "$("${DBPROBE[@]}" run "$db" image_resume nightly-29012345 2>&1 | cut -d' ' -f1,2)" \
    "SUCCESS 2"
  rc=$(pod "$dir" run3 nightly-29012345 uid-dddddddd-4444 --network none)
  expect "reused Job name with another UID runs afresh" "$rc $(wc -l < "$dir/volume/count-first")" "0 2"
  expect "fresh run id is <job name>.<uid8>" \
    "$("${DBPROBE[@]}" run "$db" image_resume nightly-29012345.uid-dddd 2>&1 | cut -d' ' -f1,2)" "SUCCESS 1"
}

case_sigterm() {
  log "case: SIGTERM during a long step (exit 143, INTERRUPTED recorded)"
  local dir; dir=$(new_case sigterm)
  write_flow "$dir" <<'YAML'
version: 1
flow:
  id: image_sigterm
jobs:
  - id: wait
    steps:
      - id: sleep
        type: external.process
        inputs: {command: ["sleep", "300"], kill_grace_seconds: 3}
YAML
  local db="$dir/volume/state/image_sigterm.db" name="$RUN_TAG-sigterm" t
  chmod -R a+rX "$dir/flows" "$dir/profiles"
  pm run -d --name "$name" --read-only --user 1001:1001 --tmpfs /tmp:rw,mode=1777,size=64m --network none \
    -v "$dir/flows:/etc/aetherflow/flows:ro" -v "$dir/profiles:/etc/aetherflow/profiles:ro" \
    -v "$dir/volume:/var/lib/aetherflow:rw" -v "$dir/termination-log:/dev/termination-log:rw" \
    --env-file "$dir/env" -e AETHERFLOW_JOB_NAME=sleepy-1 -e AETHERFLOW_JOB_UID=uid-eeeeeeee-5555 "$IMAGE" >/dev/null
  # Wait for the child process from the container's log: the host must not open a database a container is writing.
  local started=false
  for _ in $(seq 600); do
    if pm logs "$name" 2>&1 | grep -q '"event": "external_process_start"'; then started=true; break; fi
    sleep 0.1
  done
  if ! $started; then
    fail "long step started"; pm logs "$name" 2>&1 | tail -20; return
  fi
  t=$(now)
  pm kill --signal TERM "$name" >/dev/null
  local rc; rc=$(pm wait "$name")
  timing sigterm_to_exit "$(elapsed "$t")"
  pm logs "$name" > "$dir/run1.log" 2>&1 || true
  expect "SIGTERM exits 143 (tini forwards the signal)" "$rc" 143
  expect "run recorded INTERRUPTED" "$("${DBPROBE[@]}" run "$db" image_sigterm sleepy-1 2>&1 | cut -d' ' -f1,3)" \
    "INTERRUPTED 143"
  expect "step recorded INTERRUPTED" "$("${DBPROBE[@]}" step "$db" image_sigterm sleepy-1 wait sleep 2>&1 | cut -d' ' -f1)" \
    INTERRUPTED
  expect "termination message: INTERRUPTED / 143" \
    "$("${PROBE[@]}" json "$dir/termination-log" status 2>&1) $("${PROBE[@]}" json "$dir/termination-log" exit_code 2>&1)" \
    "INTERRUPTED 143"
  check "run_cancel_requested logged" grep -q '"event": "run_cancel_requested"' "$dir/run1.log"
  pm rm -f "$name" >/dev/null 2>&1 || true
}

case_image_contract() {
  log "case: image contract (user, read-only root, entrypoint, labels, tools)"
  local inspect
  inspect=$(pm image inspect "$IMAGE" --format '{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{index .Config.Labels "org.opencontainers.image.version"}}')
  expect "USER 1001:1001" "$(cut -d'|' -f1 <<<"$inspect")" 1001:1001
  expect "WORKDIR /var/lib/aetherflow" "$(cut -d'|' -f2 <<<"$inspect")" /var/lib/aetherflow
  expect "exec-form entrypoint with tini" "$(cut -d'|' -f3 <<<"$inspect")" '["tini","--","aetherflow","container"]'
  expect "OCI version label = package version" "$(cut -d'|' -f4 <<<"$inspect")" "$VERSION"
  local out
  # shellcheck disable=SC2016  # expanded by the container's shell
  out=$(pm run --rm --read-only --network none --tmpfs /tmp --entrypoint sh "$IMAGE" -c \
    'id -u; id -g; echo "$HOME"; touch /x 2>/dev/null && echo root-writable || echo root-read-only;
     touch /tmp/x && echo tmp-writable; command -v tini; command -v git; aetherflow --version' 2>&1 | tr '\n' ' ')
  expect "runs as uid/gid 1001, HOME=/tmp, root read-only, /tmp writable, tini+git present, version" "$out" \
    "1001 1001 /tmp root-read-only tmp-writable /usr/bin/tini /usr/bin/git aetherflow $VERSION "
  expect "container command takes no arguments (usage error: 2)" \
    "$(pm run --rm --read-only --network none "$IMAGE" extra-arg >/dev/null 2>&1; echo $?)" 2
  check "no extension library fails to import (pydantic_core, yaml C loader)" \
    pm run --rm --read-only --network none --entrypoint python3 "$IMAGE" -c 'import pydantic_core, yaml; yaml.CSafeLoader'
  local extra modules extras
  extras=$(image_extras)
  for extra in ${extras//,/ }; do
    if ! modules=$(extra_modules "$extra"); then
      fail "extra $extra of the image has no import check in scripts/image_test.sh (extra_modules)"
      continue
    fi
    # shellcheck disable=SC2086  # one module per word
    check "extra $extra imports in the image ($modules)" \
      pm run --rm --read-only --network none --entrypoint python3 "$IMAGE" -c \
      "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]" $modules
  done
}

report_size_and_coldstart() {
  log "image size and cold start"
  local bytes
  bytes=$(pm image inspect "$IMAGE" --format '{{.Size}}')
  echo "  image $IMAGE: $((bytes / 1000 / 1000)) MB uncompressed"
  TIMINGS+=("image_mb=$((bytes / 1000 / 1000))")
  # Interleaved, medians: the whole `podman run` of --version versus the same run of a bare import floor.
  local res
  res=$("${PROBE[@]}" coldstart 5 \
    -- podman --root "$WORK/storage" --runroot "$WORK/runroot" run --rm --read-only --network none \
       --entrypoint aetherflow "$IMAGE" --version \
    -- podman --root "$WORK/storage" --runroot "$WORK/runroot" run --rm --read-only --network none \
       --entrypoint python3 "$IMAGE" -c 'import yaml, pydantic, pydantic_settings, sqlite3')
  echo "  podman run 'aetherflow --version' median $(cut -d' ' -f1 <<<"$res")s vs import floor $(cut -d' ' -f2 <<<"$res")s: ratio $(cut -d' ' -f3 <<<"$res")"
  TIMINGS+=("coldstart_version_s=$(cut -d' ' -f1 <<<"$res")" "coldstart_floor_s=$(cut -d' ' -f2 <<<"$res")")
  # Inside one container (no podman overhead): interpreter start of the CLI versus the floor.
  res=$(pm run --rm --read-only --network none --tmpfs /tmp -v "$REPO/tests/image/probe.py:/probe.py:ro" \
    --entrypoint python3 "$IMAGE" /probe.py coldstart 9 -- aetherflow --version -- python3 -c 'import yaml, pydantic, pydantic_settings, sqlite3')
  echo "  in-container 'aetherflow --version' median $(cut -d' ' -f1 <<<"$res")s vs import floor $(cut -d' ' -f2 <<<"$res")s: ratio $(cut -d' ' -f3 <<<"$res")"
  TIMINGS+=("incontainer_version_s=$(cut -d' ' -f1 <<<"$res")" "incontainer_floor_s=$(cut -d' ' -f2 <<<"$res")")
  # A whole one-step run (`aetherflow container`: settings, load, plan, state, run, summary) versus the floor.
  local dir; dir=$(new_case coldstart)
  write_flow "$dir" <<'YAML'
version: 1
flow:
  id: coldstart
jobs:
  - id: one
    steps:
      - id: check
        type: check_items
        inputs: {items: [1]}
YAML
  chmod -R a+rX "$dir/flows"
  res=$(pm run --rm --read-only --network none --tmpfs /tmp --user 1001:1001 -v "$dir/flows:/etc/aetherflow/flows:ro" \
    -v "$REPO/tests/image/probe.py:/probe.py:ro" -e AETHERFLOW_STATE_PATH=/tmp/state/ -e AETHERFLOW_WORK_ROOT=/tmp/work \
    --entrypoint python3 "$IMAGE" /probe.py coldstart 9 -- aetherflow container -- python3 -c 'import yaml, pydantic, pydantic_settings, sqlite3')
  echo "  in-container 'aetherflow container' (one-step flow) median $(cut -d' ' -f1 <<<"$res")s vs import floor $(cut -d' ' -f2 <<<"$res")s: ratio $(cut -d' ' -f3 <<<"$res") (target <= 2)"
  TIMINGS+=("incontainer_run_s=$(cut -d' ' -f1 <<<"$res")" "incontainer_run_ratio=$(cut -d' ' -f3 <<<"$res")")
}

summary() {
  echo
  echo "image-test summary: $PASSED passed, $FAILED failed"
  [ ${#TIMINGS[@]} -gt 0 ] && echo "timings: ${TIMINGS[*]}"
  local f
  for f in "${FAILURES[@]}"; do echo "  FAILED: $f"; done
  if [ "$FAILED" -gt 0 ]; then exit 1; fi
  exit 0
}

# ------------------------------------------------------------------------------------------------------------ main
T0=$(now)
ensure_podman
ensure_base
build_image
if $BUILD_ONLY; then
  echo "built $IMAGE"
  summary
fi
case_image_contract
case_success_and_metrics
case_invalid_flow
case_resume
case_sigterm
report_size_and_coldstart
timing total "$(elapsed "$T0")"
summary
