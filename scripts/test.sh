#!/usr/bin/env bash
# Run the suite once per database: SQLite (the embedded default) and PostgreSQL (production).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
databases=${TENANTRY_TEST_DATABASES:-sqlite postgres}
pg_url=${TENANTRY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/tenantry}
status=0
for db in $databases; do
  echo "=== test suite on $db ==="
  if [ "$db" = postgres ]; then
    DATABASE_URL=$pg_url "$BIN/pytest" "$@" || status=$?
  else
    # Real-n8n and real-WordPress scenarios exercise the app, not the control plane's database: they
    # run once, in the PostgreSQL pass (production's database), unless the caller chose markers itself.
    sqlite_markers=(-m "not n8n and not wordpress")
    [[ " $* " == *" -m "* ]] && sqlite_markers=()
    [[ " $databases " == *" postgres "* ]] || sqlite_markers=()
    env -u DATABASE_URL "$BIN/pytest" "${sqlite_markers[@]}" "$@" || status=$?
  fi
  [ $status -eq 0 ] || break
done
# Production's queue: the worker scenarios (kill, lifecycle, lease) again with Redis as the queue, on PostgreSQL.
if [ $status -eq 0 ] && [[ " $databases " == *" postgres "* ]]; then
  echo "=== worker scenarios on PostgreSQL + Redis ==="
  DATABASE_URL=$pg_url REDIS_URL=${TENANTRY_TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
    "$BIN/pytest" "$@" tests/instances/test_worker_resume.py tests/instances/test_queue.py \
    tests/instances/test_lifecycle_worker.py tests/instances/test_lease.py || status=$?
fi
exit $status
