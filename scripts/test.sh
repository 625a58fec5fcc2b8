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
    env -u DATABASE_URL "$BIN/pytest" "$@" || status=$?
  fi
  [ $status -eq 0 ] || break
done
exit $status
