#!/usr/bin/env bash
# Run the suite once per database: SQLite (the embedded default) and PostgreSQL (production).
#
# The passes run at the same time: most of a scenario's time is spent waiting on Docker, Traefik
# and n8n, not on this machine's cores, so running them side by side cuts the wall time (CI's
# budget) by more than half without changing what is run. Each pass gets its own Docker subnet
# pools and database (every run already has its own data dir, resource prefix, ports and queue);
# the background passes write logs printed when they end, so the outputs do not interleave.
# The Chromium scenarios (marker `browser`) run afterwards, one pass at a time: Chromium fails
# its requests in flight (ERR_NETWORK_CHANGED) whenever the host's interfaces change, which they
# do each time the other pass creates a Docker network.
# TENANTRY_TEST_SERIAL=1, one database, or markers of the caller's own (-m) run everything one
# pass after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
databases=${TENANTRY_TEST_DATABASES:-sqlite postgres}
pg_url=${TENANTRY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/tenantry}
redis_url=${TENANTRY_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
durations=(--durations=15)
# Real-n8n and real-WordPress scenarios exercise the app, not the control plane's database: they
# run once, in the PostgreSQL pass (production's database).
app_scenarios="n8n or wordpress"

want() { [[ " $databases " == *" $1 "* ]]; }

# pytest's "no tests collected" (5) is not a failure for a slice that a -k filter may empty.
pytest_slice() { "$BIN/pytest" "$@"; local status=$?; [ $status -eq 5 ] && return 0; return $status; }

sqlite_run() { env -u DATABASE_URL "$BIN/pytest" "${durations[@]}" "$@"; }
postgres_run() { DATABASE_URL=$pg_url "$BIN/pytest" "${durations[@]}" "$@"; }

# Production's queue: the worker scenarios (kill, lifecycle, lease) again with Redis as the queue.
redis_workers() {
  echo "=== worker scenarios on PostgreSQL + Redis ==="
  DATABASE_URL=$pg_url REDIS_URL=$redis_url "$BIN/pytest" "$@" tests/instances/test_worker_resume.py \
    tests/instances/test_queue.py tests/instances/test_lifecycle_worker.py tests/instances/test_lease.py
}

if ! want sqlite || ! want postgres || [ "${TENANTRY_TEST_SERIAL:-0}" = 1 ] || [[ " $* " == *" -m "* ]]; then
  status=0
  if want sqlite; then
    echo "=== test suite on sqlite ==="
    markers=(-m "not ($app_scenarios)")
    { ! want postgres || [[ " $* " == *" -m "* ]]; } && markers=()
    sqlite_run "${markers[@]}" "$@" || status=$?
  fi
  if [ $status -eq 0 ] && want postgres; then
    echo "=== test suite on postgres ==="
    postgres_run "$@" || status=$?
    [ $status -eq 0 ] && { redis_workers "$@" || status=$?; }
  fi
  exit $status
fi

# Three at once: SQLite, PostgreSQL, and the real-app scenarios (n8n, WordPress: the slowest, and
# only in production's database) on a PostgreSQL database of their own.
apps_url=${TENANTRY_TEST_APPS_POSTGRES_URL:-${pg_url%/*}/tenantry_apps}
"$BIN/python" - "$apps_url" <<'PY' || exit 1
import sys

import psycopg

base, name = sys.argv[1].rsplit("/", 1)
with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        connection.execute(f'CREATE DATABASE "{name}"')
PY
sqlite_log=$(mktemp -t tenantry-sqlite-pass.XXXXXX.log)
apps_log=$(mktemp -t tenantry-apps-pass.XXXXXX.log)
echo "=== without the browser scenarios: sqlite (log: $sqlite_log), the app scenarios on postgres (log: $apps_log), postgres ==="
TENANTRY_TEST_SUBNET_POOL=${TENANTRY_TEST_SQLITE_SUBNET_POOL:-10.242.0.0/16} \
  TENANTRY_TEST_UP_SUBNET_POOL=${TENANTRY_TEST_SQLITE_UP_SUBNET_POOL:-10.243.0.0/16} \
  sqlite_run -m "not ($app_scenarios) and not browser" "$@" >"$sqlite_log" 2>&1 &
sqlite_pid=$!
TENANTRY_TEST_SUBNET_POOL=${TENANTRY_TEST_APPS_SUBNET_POOL:-10.244.0.0/16} DATABASE_URL=$apps_url \
  "$BIN/pytest" "${durations[@]}" -m "($app_scenarios) and not browser" "$@" >"$apps_log" 2>&1 &
apps_pid=$!
# If this script is interrupted, the background passes go with it.
trap 'kill "$sqlite_pid" "$apps_pid" 2>/dev/null' EXIT INT TERM

echo "=== test suite on postgres ==="
postgres_run -m "not ($app_scenarios) and not browser" "$@"
pg_status=$?
[ $pg_status -eq 0 ] && { redis_workers "$@" || pg_status=$?; }
wait "$sqlite_pid"
sqlite_status=$?
wait "$apps_pid"
apps_status=$?
[ $apps_status -eq 5 ] && apps_status=0  # a -k filter left no app scenario
trap - EXIT INT TERM
echo "=== test suite on sqlite (output) ==="
cat "$sqlite_log"
echo "=== app scenarios on postgres (output) ==="
cat "$apps_log"
echo "=== sqlite pass: exit $sqlite_status; app scenarios: exit $apps_status; postgres pass: exit $pg_status ==="
[ $pg_status -eq 0 ] && [ $sqlite_status -eq 0 ] && [ $apps_status -eq 0 ] || exit 1

echo "=== browser scenarios, on postgres then on sqlite ==="
DATABASE_URL=$pg_url pytest_slice -m browser "$@" || exit 1
(unset DATABASE_URL; pytest_slice -m "browser and not ($app_scenarios)" "$@") || exit 1
